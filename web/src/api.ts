// The one HTTP client: base path, bearer token, JSON in/out and the server's {"error": "..."} text.
export const BASE = (window.__BASE__ ?? "/scale").replace(/\/$/, "");
const TOKEN_KEY = `token:${BASE}`;
const FORCE_KEY = `force:${BASE}`;

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

// Remember-me keeps the revocable session token (never the password hash) in localStorage.
export const auth = {
  token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY);
  },
  set(token: string, remember: boolean, force: boolean) {
    sessionStorage.setItem(TOKEN_KEY, token);
    if (remember) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
    auth.setForce(force);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(FORCE_KEY);
  },
  force(): boolean {
    return sessionStorage.getItem(FORCE_KEY) === "1";
  },
  setForce(on: boolean) {
    if (on) sessionStorage.setItem(FORCE_KEY, "1");
    else sessionStorage.removeItem(FORCE_KEY);
  },
};

export const SESSION_EXPIRED = "hy2scale:session-expired";

export function apiUrl(path: string): string {
  return `${BASE}/api${path}`;
}

async function errorText(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const body = JSON.parse(text);
    if (typeof body?.error === "string") return body.error;
    if (typeof body?.detail === "string") return body.detail;
  } catch {
    /* not JSON: show the text as is */
  }
  return text.trim() || `${res.status} ${res.statusText}`;
}

export interface RequestOptions {
  raw?: boolean; // return the Response (downloads, blobs)
  contentType?: string;
}

export async function api<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<T> {
  const headers: Record<string, string> = {};
  const token = auth.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body instanceof Blob || body instanceof FormData) {
    payload = body;
    if (opts.contentType) headers["Content-Type"] = opts.contentType;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const res = await fetch(apiUrl(path), { method, headers, body: payload, cache: "no-store" });
  if (!res.ok) {
    const message = await errorText(res);
    if (res.status === 401 && path !== "/login") window.dispatchEvent(new Event(SESSION_EXPIRED));
    throw new ApiError(res.status, message);
  }
  if (opts.raw) return res as unknown as T;
  const type = res.headers.get("content-type") ?? "";
  if (type.includes("json")) return (await res.json()) as T;
  return (await res.text()) as unknown as T;
}

export const get = <T>(path: string) => api<T>("GET", path);
export const put = <T>(path: string, body?: unknown) => api<T>("PUT", path, body ?? {});
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});
export const del = <T>(path: string) => api<T>("DELETE", path);

/** Path segment for ids that may contain '/', ':' or '|' (peer paths, session keys). */
export const seg = (s: string) => encodeURIComponent(s);

/** Fetch with auth and save the body as a file. */
export async function download(path: string, fallbackName: string): Promise<void> {
  const res = await api<Response>("GET", path, undefined, { raw: true });
  const disp = res.headers.get("content-disposition") ?? "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disp);
  const name = match ? decodeURIComponent(match[1]) : fallbackName;
  saveBlob(await res.blob(), name);
}

export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** An authenticated image (QR PNGs) as an object URL. */
export async function blobUrl(path: string): Promise<string> {
  const res = await api<Response>("GET", path, undefined, { raw: true });
  return URL.createObjectURL(await res.blob());
}
