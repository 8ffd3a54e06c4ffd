// Shapes of the REST API (specs/api.md); optional fields are the ones the server may omit.
export interface ServerCfg {
  listen: string;
  password: string;
  tls_cert?: string;
  tls_key?: string;
}
export interface NodeInfo {
  node_id: string;
  name: string;
  exit_node: boolean;
  hy2_user_auth: boolean;
  compat?: boolean;
  limited?: boolean;
  server: ServerCfg | null;
  version: string;
  active_paths?: Record<string, string>;
}
export interface Stats {
  tx_bytes: number;
  rx_bytes: number;
  tx_rate: number;
  rx_rate: number;
  conns: number;
  exit_clients: number;
}
export interface TopoNode {
  name: string;
  addr?: string;
  addrs?: string[];
  direction: "local" | "outbound" | "inbound" | string;
  connected?: boolean;
  disabled?: boolean;
  nested?: boolean;
  native?: boolean;
  incompatible?: boolean;
  conflict?: boolean;
  unsupported?: boolean;
  version?: string;
  latency_ms?: number;
  tx_rate?: number;
  rx_rate?: number;
  max_rate?: number;
  is_self?: boolean;
  via?: string;
  exit_node?: boolean;
  children?: TopoNode[];
}
export interface Client {
  name: string;
  addr: string;
  addrs?: string[];
  password: string;
  sni: string;
  insecure: boolean;
  ca: string;
  max_tx: number;
  max_rx: number;
  fast_open?: boolean;
  bbr_profile?: string;
  quic_backend?: string;
  disabled?: boolean;
  connected?: boolean;
}
export interface ExitFields {
  exit_via?: string;
  exit_paths?: string[];
  exit_mode?: string;
}
export interface User extends ExitFields {
  id: string;
  username: string;
  password: string;
  proxy_passwords?: Record<string, string>;
  proxy_disabled?: string[];
  traffic_limit: number;
  traffic_used: number;
  expiry_date: string;
  enabled: boolean;
}
export interface Device {
  key: string;
  username: string;
  remote_ip: string;
  protocol: string;
  connect_at: number;
  duration: number;
  conn_count: number;
  tx_bytes: number;
  rx_bytes: number;
}
export interface Rule extends ExitFields {
  id: string;
  name: string;
  type: "ip" | "domain";
  targets: string[];
  enabled: boolean;
  priority?: number;
  use_tun?: boolean;
  tun_active?: boolean;
}
export interface Cert {
  id: string;
  name: string;
  subject: string;
  issuer: string;
  not_after: string;
  is_ca: boolean;
  key_file?: string;
  cert_file?: string;
  ca_parent_id?: string;
}
export interface ProxyCfg extends ExitFields {
  id: string;
  protocol: string;
  listen: string;
  enabled: boolean;
  tls_cert?: string;
  no_auth?: boolean;
  running?: boolean;
  error?: string;
}
export interface WgPeer extends ExitFields {
  name: string;
  public_key: string;
  private_key?: string;
  allowed_ips: string;
  keepalive: number;
}
export interface WgCfg {
  running?: boolean;
  connected?: number;
  enabled: boolean;
  listen_port: number;
  private_key: string;
  public_key?: string;
  address: string;
  mtu?: number;
  peers: WgPeer[] | null;
  error?: string;
  reason?: string;
}
