// hysteria2:// share URLs parsed for import (web-ui.md §4); export links are built by the server.
export interface Hy2Link {
  password: string;
  host: string;
  port: string;
  name: string;
  sni: string;
  insecure: boolean;
  fastOpen: boolean;
  upBps: number; // bytes per second, as the API stores max_tx / max_rx
  downBps: number;
  ignored: string[];
}

const RELAY_HOST = /^_?relay_?/i;

function mbpsToBytes(v: string | null): number {
  if (!v) return 0;
  const m = /^\s*([\d.]+)\s*([kmg]?)(?:bps)?\s*$/i.exec(v);
  if (!m) return 0;
  const n = parseFloat(m[1]);
  const unit = m[2].toLowerCase();
  const mbps = unit === "g" ? n * 1000 : unit === "k" ? n / 1000 : n;
  return Math.round(mbps * 125_000);
}

export function parseHy2(input: string): Hy2Link {
  const text = input.trim();
  const scheme = /^(hysteria2|hy2):\/\//i.exec(text);
  if (!scheme) throw new Error("URL must start with hysteria2:// or hy2://");
  let rest = text.slice(scheme[0].length);
  let fragment = "";
  const hash = rest.indexOf("#");
  if (hash >= 0) {
    fragment = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
  }
  let query = "";
  const q = rest.indexOf("?");
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  rest = rest.replace(/\/+$/, "");
  const at = rest.lastIndexOf("@");
  if (at < 0) throw new Error("URL has no password (expected password@host:port)");
  const password = decodeURIComponent(rest.slice(0, at));
  const hostport = rest.slice(at + 1);
  let host = hostport;
  let port = "443";
  if (hostport.startsWith("[")) {
    const end = hostport.indexOf("]");
    host = hostport.slice(0, end + 1);
    if (hostport[end + 1] === ":") port = hostport.slice(end + 2);
  } else if (hostport.lastIndexOf(":") > 0) {
    host = hostport.slice(0, hostport.lastIndexOf(":"));
    port = hostport.slice(hostport.lastIndexOf(":") + 1);
  }
  if (!host) throw new Error("URL has no host");
  if (RELAY_HOST.test(host) || /^relay/i.test(host)) throw new Error("relay-internal host names cannot be imported");
  const params = new URLSearchParams(query);
  if (params.get("mport")) port = params.get("mport") as string;
  const flag = (k: string) => ["1", "true"].includes((params.get(k) ?? "").toLowerCase());
  const ignored = ["obfs", "obfs-password", "pinSHA256"].filter((k) => params.has(k));
  return {
    password,
    host,
    port: port || "443",
    name: fragment ? decodeURIComponent(fragment) : `${host}:${port}`,
    sni: params.get("sni") ?? "",
    insecure: flag("insecure"),
    fastOpen: flag("fastopen"),
    upBps: mbpsToBytes(params.get("up") ?? params.get("bandwidth")),
    downBps: mbpsToBytes(params.get("down")),
    ignored,
  };
}
