interface Window {
  __BASE__?: string;
  __BUILD_ID__?: string;
  __PROXY__?: boolean;
}
