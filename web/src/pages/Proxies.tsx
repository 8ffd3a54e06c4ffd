import { useEffect, useState } from "react";
import { blobUrl, del, download, get, post, put, seg } from "../api";
import { useShared } from "../data";
import { useAction, usePoll } from "../hooks";
import { useT } from "../i18n";
import { setQuery, useRoute } from "../router";
import type { Cert, ProxyCfg, WgCfg, WgPeer } from "../types";
import { Badge, Banner, Card, Empty, ErrorText, Loading, Modal, NumberField, PasswordField, SelectField, Tabs, TextField, Toggle, confirm, toast, toastError } from "../ui";
import { ExitPathsEditor, ExitView, fromExit, toExit, type ExitValue } from "./ExitPaths";

interface Status {
  running?: boolean;
  error?: string;
  reason?: string;
  capable?: boolean;
  enabled?: boolean;
}

function StatusLine(props: { s: Status | undefined }) {
  const t = useT();
  const s = props.s;
  if (!s) return null;
  if (s.capable === false)
    return (
      <Banner tone="bad" testid="service-status">
        {t("Not available on this host")}: {s.reason || t("missing capability")}
      </Banner>
    );
  if (s.error)
    return (
      <Banner tone="bad" testid="service-status">
        {t("Not running")}: {s.error}
      </Banner>
    );
  if (s.running) return <Banner tone="good" testid="service-status">{t("Running")}</Banner>;
  if (s.enabled === false) return <Banner tone="info" testid="service-status">{t("Stopped: the service is disabled")}</Banner>;
  if (s.running === false) return <Banner tone="warn" testid="service-status">{t("Not running")}{s.reason ? `: ${s.reason}` : ""}</Banner>;
  if (s.enabled) return <Banner tone="info" testid="service-status">{t("Enabled; this node does not report whether the service is listening.")}</Banner>;
  return null;
}

function useCerts(): Cert[] {
  const [certs, setCerts] = useState<Cert[]>([]);
  useEffect(() => void get<Cert[]>("/tls").then((l) => setCerts((l ?? []).filter((c) => c.key_file || !("key_file" in c))), () => undefined), []);
  return certs;
}

function Hy2Tab() {
  const t = useT();
  const { node } = useShared();
  const info = node.data;
  const [busy, setBusy] = useState(false);
  if (!info) return <Loading />;
  return (
    <Card title={t("Hysteria 2 server")} testid="hy2-card">
      <StatusLine s={{ running: !!info.server?.listen, reason: info.server ? "" : t("the server is disabled") }} />
      <dl className="kv">
        <dt>{t("Listen address")}</dt>
        <dd className="mono">{info.server?.listen || "—"}</dd>
        <dt>{t("TLS certificate")}</dt>
        <dd className="mono">{info.server?.tls_cert || t("Self-signed (automatic)")}</dd>
      </dl>
      <p className="hint">{t("Listen address, password and certificate are edited in Nodes → Edit this node.")}</p>
      <Toggle
        label={t("Allow user authentication on Hysteria 2")}
        checked={info.hy2_user_auth}
        disabled={busy}
        hint={t("When on, users log in with their own password and their traffic follows their exit paths; otherwise only peers with the server password can connect.")}
        onChange={async (v) => {
          setBusy(true);
          try {
            await put("/node", { hy2_user_auth: v });
            await node.reload();
            toast(t("Saved"));
          } catch (e) {
            toastError(e);
          } finally {
            setBusy(false);
          }
        }}
      />
    </Card>
  );
}

function ProxyTab(props: { protocol: "socks5" | "http" }) {
  const t = useT();
  const list = usePoll<ProxyCfg[]>("/proxies", 5000);
  const certs = useCerts();
  const existing = list.data?.find((p) => p.protocol === props.protocol);
  const [form, setForm] = useState<ProxyCfg | null>(null);
  const [exit, setExit] = useState<ExitValue>({ paths: [], mode: "" });
  const action = useAction();
  useEffect(() => {
    if (!list.data || form) return;
    const base = existing ?? { id: props.protocol, protocol: props.protocol, listen: props.protocol === "socks5" ? "0.0.0.0:1080" : "0.0.0.0:8080", enabled: false, tls_cert: "" };
    setForm(base);
    setExit(fromExit(base));
  }, [list.data, existing, form, props.protocol]);
  if (!form) return list.error ? <Empty>{list.error}</Empty> : <Loading />;
  const save = () =>
    action.run(async () => {
      const body = { ...form, ...toExit(exit) };
      delete body.running;
      delete body.error;
      if (existing) await put(`/proxies/${seg(existing.id)}`, body);
      else await post("/proxies", body);
      toast(t("Saved"));
      await list.reload();
    });
  const label = props.protocol === "socks5" ? "SOCKS5" : "HTTP";
  return (
    <Card title={t("{proxy} proxy", { proxy: label })} testid={`${props.protocol}-card`}>
      <StatusLine s={existing ? { running: existing.running, error: existing.error, enabled: existing.enabled } : { enabled: false }} />
      <Toggle label={t("Enabled")} checked={form.enabled} onChange={(v) => setForm({ ...form, enabled: v })} testid={`${props.protocol}-enabled`} />
      <TextField label={t("Listen address")} value={form.listen} onChange={(v) => setForm({ ...form, listen: v })} mono required testid={`${props.protocol}-listen`} />
      <SelectField
        label={t("TLS")}
        value={form.tls_cert ?? ""}
        onChange={(v) => setForm({ ...form, tls_cert: v })}
        options={[{ value: "", label: t("No TLS (plain)") }, ...certs.map((c) => ({ value: c.id, label: c.name || c.id }))]}
      />
      <Toggle
        label={t("Allow without a password (open proxy)")}
        checked={!!form.no_auth}
        onChange={(v) => setForm({ ...form, no_auth: v })}
        hint={form.no_auth ? t("Anyone who can reach this port may use it; bind it to a private address.") : t("Users sign in with their username and password.")}
      />
      {form.no_auth && <Banner tone="warn">{t("Anyone who can reach this port may use it; bind it to a private address.")}</Banner>}
      <ExitPathsEditor value={exit} onChange={setExit} label={t("Default exit (users' own exits win)")} />
      <ErrorText error={action.error} />
      <div className="form-actions">
        <button className="primary" onClick={save} disabled={action.busy} data-testid={`${props.protocol}-save`}>
          {t("Save")}
        </button>
      </div>
    </Card>
  );
}

/** GET/PUT config tabs (Shadowsocks, L2TP, IKEv2) share this loader. */
function useConfig<T extends object>(path: string) {
  const cfg = usePoll<T>(path, 0);
  const [form, setForm] = useState<T | null>(null);
  useEffect(() => {
    if (cfg.data && !form) setForm(cfg.data);
  }, [cfg.data, form]);
  return { cfg, form, setForm };
}

function SsTab() {
  const t = useT();
  const { cfg, form, setForm } = useConfig<{ listen: string; enabled: boolean; method: string; psk?: string } & Status>("/ss");
  const action = useAction();
  if (!form) return cfg.error ? <Empty>{cfg.error}</Empty> : <Loading />;
  const save = () =>
    action.run(async () => {
      const sip022 = form.method.startsWith("2022-");
      await put("/ss", { listen: form.listen || "0.0.0.0:8388", enabled: form.enabled, method: form.method, psk: sip022 ? form.psk ?? "" : "" });
      toast(t("Saved"));
      await cfg.reload();
    });
  return (
    <Card title="Shadowsocks" testid="ss-card">
      <StatusLine s={cfg.data} />
      <Toggle label={t("Enabled")} checked={form.enabled} onChange={(v) => setForm({ ...form, enabled: v })} />
      <TextField label={t("Listen address")} value={form.listen} placeholder="0.0.0.0:8388" onChange={(v) => setForm({ ...form, listen: v })} mono />
      <SelectField
        label={t("Cipher")}
        value={form.method}
        onChange={(v) => setForm({ ...form, method: v })}
        options={["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305", "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm", "2022-blake3-chacha20-poly1305"].map((m) => ({ value: m, label: m }))}
      />
      {form.method.startsWith("2022-") && (
        <PasswordField
          label={t("Server PSK (base64)")}
          value={form.psk ?? ""}
          onChange={(v) => setForm({ ...form, psk: v })}
          hint={t("Leave empty to derive it from the node's server password.")}
        />
      )}
      <p className="hint">{t("Users authenticate with their password (or their Shadowsocks password override).")}</p>
      <ErrorText error={action.error} />
      <div className="form-actions">
        <button className="primary" onClick={save} disabled={action.busy}>
          {t("Save")}
        </button>
      </div>
    </Card>
  );
}

interface L2tpCfg extends Status {
  listen: string;
  enabled: boolean;
  pool: string;
  psk: string;
  mtu: number;
  host_network?: boolean;
}

function L2tpTab() {
  const t = useT();
  const { cfg, form, setForm } = useConfig<L2tpCfg>("/l2tp");
  const action = useAction();
  if (!form) return cfg.error ? <Empty>{cfg.error}</Empty> : <Loading />;
  const inert = cfg.data?.capable === false;
  const save = () =>
    action.run(async () => {
      const { capable: _c, reason: _r, host_network: _h, running: _run, error: _e, ...body } = form;
      await put("/l2tp", body);
      toast(t("Saved"));
      await cfg.reload();
    });
  return (
    <Card title="L2TP/IPsec" testid="l2tp-card">
      <StatusLine s={cfg.data} />
      <fieldset disabled={inert} className={inert ? "inert" : ""}>
        <Toggle label={t("Enabled")} checked={form.enabled} onChange={(v) => setForm({ ...form, enabled: v })} />
        <div className="grid2">
          <TextField label={t("Port")} value={String(form.listen ?? "")} onChange={(v) => setForm({ ...form, listen: v })} mono />
          <TextField label={t("Address pool (CIDR)")} value={form.pool} onChange={(v) => setForm({ ...form, pool: v })} mono />
        </div>
        <PasswordField label={t("IPsec pre-shared key")} value={form.psk} onChange={(v) => setForm({ ...form, psk: v })} generate />
        <NumberField label="MTU" value={form.mtu} onChange={(v) => setForm({ ...form, mtu: v })} />
      </fieldset>
      <ErrorText error={action.error} />
      <div className="form-actions">
        <button className="primary" onClick={save} disabled={action.busy || inert}>
          {t("Save")}
        </button>
      </div>
    </Card>
  );
}

interface Ikev2Cfg extends Status {
  enabled: boolean;
  mode: string;
  pool: string;
  cert_id: string;
  psk: string;
  local_id: string;
  remote_id?: string;
  default_exit?: string;
  default_exit_paths?: string[];
  default_exit_mode?: string;
  mtu: number;
  host_network?: boolean;
}

function Ikev2Tab() {
  const t = useT();
  const { cfg, form, setForm } = useConfig<Ikev2Cfg>("/ikev2");
  const certs = useCerts();
  const action = useAction();
  if (!form) return cfg.error ? <Empty>{cfg.error}</Empty> : <Loading />;
  const inert = cfg.data?.capable === false;
  const exit = fromExit({ exit_via: form.default_exit, exit_paths: form.default_exit_paths, exit_mode: form.default_exit_mode });
  const save = () =>
    action.run(async () => {
      if (form.mode === "mschapv2" && !form.cert_id) throw new Error(t("EAP-MSCHAPv2 needs a server certificate"));
      if (form.mode === "psk" && !form.psk) throw new Error(t("PSK mode needs a pre-shared key"));
      const { capable: _c, reason: _r, host_network: _h, running: _run, error: _e, ...body } = form;
      await put("/ikev2", body);
      toast(t("Saved"));
      await cfg.reload();
    });
  const setExit = (v: ExitValue) => {
    const e = toExit(v);
    setForm({ ...form, default_exit: e.exit_via, default_exit_paths: e.exit_paths, default_exit_mode: e.exit_mode });
  };
  return (
    <Card title="IKEv2/IPsec" testid="ikev2-card">
      <StatusLine s={cfg.data} />
      <fieldset disabled={inert} className={inert ? "inert" : ""}>
        <SelectField
          label={t("Authentication")}
          value={form.mode}
          onChange={(v) => setForm({ ...form, mode: v })}
          options={[
            { value: "mschapv2", label: t("EAP-MSCHAPv2 (certificate)") },
            { value: "psk", label: t("Pre-shared key") },
          ]}
        />
        <Toggle label={t("Enabled")} checked={form.enabled} onChange={(v) => setForm({ ...form, enabled: v })} />
        <div className="grid2">
          <TextField label={t("Local ID")} value={form.local_id} onChange={(v) => setForm({ ...form, local_id: v })} />
          <TextField label={t("Address pool (CIDR)")} value={form.pool} onChange={(v) => setForm({ ...form, pool: v })} mono />
        </div>
        {form.mode === "mschapv2" ? (
          <SelectField label={t("Server certificate")} value={form.cert_id} onChange={(v) => setForm({ ...form, cert_id: v })} options={[{ value: "", label: t("— select —") }, ...certs.map((c) => ({ value: c.id, label: c.name || c.id }))]} />
        ) : (
          <>
            <PasswordField label={t("Pre-shared key")} value={form.psk} onChange={(v) => setForm({ ...form, psk: v })} generate />
            <ExitPathsEditor value={exit} onChange={setExit} label={t("Default exit")} />
          </>
        )}
        <NumberField label="MTU" value={form.mtu} onChange={(v) => setForm({ ...form, mtu: v })} />
      </fieldset>
      <ErrorText error={action.error} />
      <div className="form-actions">
        <button className="primary" onClick={save} disabled={action.busy || inert}>
          {t("Save")}
        </button>
      </div>
    </Card>
  );
}

function nextAddress(cfg: WgCfg): string {
  const base = cfg.address.split("/")[0].split(".").map(Number);
  const used = new Set((cfg.peers ?? []).map((p) => p.allowed_ips.split("/")[0]));
  for (let i = (base[3] ?? 1) + 1; i < 255; i++) {
    const ip = `${base[0]}.${base[1]}.${base[2]}.${i}`;
    if (!used.has(ip)) return `${ip}/32`;
  }
  return "";
}

function WgPeerModal(props: { cfg: WgCfg; peer?: WgPeer; onClose: () => void; onSaved: () => void }) {
  const t = useT();
  const [p, setP] = useState<WgPeer>(() => props.peer ?? { name: "", public_key: "", private_key: "", allowed_ips: nextAddress(props.cfg), keepalive: 25 });
  const [exit, setExit] = useState<ExitValue>(() => fromExit(props.peer ?? {}));
  const action = useAction();
  const generate = () =>
    void post<{ private_key: string; public_key: string }>("/wireguard/generate-key").then((k) => setP((x) => ({ ...x, ...k })), (e: Error) => action.setError(e.message));
  useEffect(() => {
    if (!props.peer) generate();
  }, []);
  const save = () =>
    action.run(async () => {
      if (!p.name.trim()) throw new Error(t("Name is required"));
      const body = { ...p, ...toExit(exit) };
      if (props.peer) await put(`/wireguard/peers/${seg(props.peer.name)}`, body);
      else await post("/wireguard/peers", body);
      toast(t("Saved"));
      props.onSaved();
      props.onClose();
    });
  return (
    <Modal
      title={props.peer ? t("Edit WireGuard peer") : t("Add WireGuard peer")}
      onClose={props.onClose}
      testid="wg-peer-modal"
      footer={
        <>
          <button onClick={props.onClose}>{t("Cancel")}</button>
          <button className="primary" onClick={save} disabled={action.busy || !p.public_key} data-testid="wg-peer-save">
            {t("Save")}
          </button>
        </>
      }
    >
      <TextField label={t("Name")} value={p.name} onChange={(v) => setP({ ...p, name: v })} required testid="wg-peer-name" />
      <TextField label={t("Allowed IPs")} value={p.allowed_ips} onChange={(v) => setP({ ...p, allowed_ips: v })} mono required />
      <div className="field">
        <label htmlFor="wg-peer-pub">{t("Public key")} *</label>
        <div className="input-group">
          <input id="wg-peer-pub" className="mono" value={p.public_key} onChange={(e) => setP({ ...p, public_key: e.target.value, private_key: "" })} data-testid="wg-peer-pub" />
          <button type="button" onClick={generate}>
            {t("Generate")}
          </button>
        </div>
        <div className="hint">{t("A generated key pair lets this node hand out a ready .conf; paste the client's own public key instead to keep its private key off the server.")}</div>
      </div>
      <NumberField label={t("Keepalive (s)")} value={p.keepalive} min={0} onChange={(v) => setP({ ...p, keepalive: v })} />
      <ExitPathsEditor value={exit} onChange={setExit} />
      <ErrorText error={action.error} />
    </Modal>
  );
}

function WgDetail(props: { peer: WgPeer; onClose: () => void }) {
  const t = useT();
  const endpoint = location.hostname;
  const [conf, setConf] = useState<string | null>(null);
  const [qr, setQr] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const q = `endpoint=${encodeURIComponent(endpoint)}`;
  useEffect(() => {
    let url = "";
    void get<string>(`/wireguard/peers/${seg(props.peer.name)}/config?${q}`).then(setConf, (e: Error) => setError(e.message));
    void blobUrl(`/wireguard/qr?peer=${encodeURIComponent(props.peer.name)}&${q}`).then((u) => {
      url = u;
      setQr(u);
    }, () => undefined);
    return () => {
      if (url) URL.revokeObjectURL(url);
    };
  }, [props.peer.name, q]);
  return (
    <Modal
      title={props.peer.name}
      onClose={props.onClose}
      wide
      testid="wg-detail"
      footer={
        <>
          <button onClick={props.onClose}>{t("Close")}</button>
          <button className="primary" data-testid="wg-download" onClick={() => void download(`/wireguard/peers/${seg(props.peer.name)}/config?${q}`, `${props.peer.name}.conf`).catch(toastError)}>
            {t("Download .conf")}
          </button>
        </>
      }
    >
      <ErrorText error={error} />
      <div className="wg-detail">
        {qr ? <img className="qr" src={qr} alt={t("QR code of the WireGuard configuration")} width={256} height={256} /> : <div className="qr qr-empty" />}
        <pre className="conf mono" data-testid="wg-conf">
          {conf ?? ""}
        </pre>
      </div>
    </Modal>
  );
}

function WireGuardTab() {
  const t = useT();
  const wg = usePoll<WgCfg>("/wireguard", 5000);
  const [form, setForm] = useState<WgCfg | null>(null);
  const [modal, setModal] = useState<null | { kind: "add" | "edit" | "detail"; peer?: WgPeer }>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const action = useAction();
  useEffect(() => {
    if (wg.data && !form) setForm(wg.data);
  }, [wg.data, form]);
  if (!form || !wg.data) return wg.error ? <Empty>{wg.error}</Empty> : <Loading />;
  const peers = wg.data.peers ?? [];
  const save = () =>
    action.run(async () => {
      const { running: _r, connected: _c, public_key: _p, peers: _peers, error: _e, reason: _re, ...body } = form;
      await put("/wireguard", body);
      toast(t("Saved"));
      await wg.reload();
    });
  const removeSelected = async () => {
    if (!(await confirm({ title: t("Delete peers"), message: t("Delete {n} WireGuard peers?", { n: selected.size }), danger: true, confirmText: t("Delete") }))) return;
    try {
      for (const name of selected) await del(`/wireguard/peers/${seg(name)}`);
      setSelected(new Set());
      toast(t("Deleted"));
      await wg.reload();
    } catch (e) {
      toastError(e);
    }
  };
  const sel = peers.filter((p) => selected.has(p.name));
  return (
    <div className="stack">
      <Card
        title={t("WireGuard server")}
        testid="wg-card"
        actions={wg.data.running ? <Badge tone="good">{t("running · {n} connected", { n: wg.data.connected ?? 0 })}</Badge> : <Badge>{t("stopped")}</Badge>}
      >
        <StatusLine s={{ running: wg.data.running, enabled: wg.data.enabled, error: wg.data.error, reason: wg.data.reason }} />
        <div className="grid2">
          <NumberField label={t("Listen port")} value={form.listen_port} onChange={(v) => setForm({ ...form, listen_port: v })} />
          <TextField label={t("Address (CIDR)")} value={form.address} onChange={(v) => setForm({ ...form, address: v })} mono />
        </div>
        <Toggle label={t("Enabled")} checked={form.enabled} onChange={(v) => setForm({ ...form, enabled: v })} testid="wg-enabled" />
        <div className="field">
          <label htmlFor="wg-priv">{t("Private key")}</label>
          <div className="input-group">
            <input id="wg-priv" className="mono" value={form.private_key} onChange={(e) => setForm({ ...form, private_key: e.target.value })} />
            <button
              type="button"
              onClick={() =>
                void post<{ private_key: string; public_key: string }>("/wireguard/generate-key").then((k) => setForm({ ...form, private_key: k.private_key, public_key: k.public_key }), toastError)
              }
            >
              {t("Generate")}
            </button>
          </div>
        </div>
        <TextField label={t("Public key")} value={form.public_key ?? ""} onChange={() => undefined} mono disabled />
        <NumberField label="MTU" value={form.mtu ?? 1420} onChange={(v) => setForm({ ...form, mtu: v })} />
        <ErrorText error={action.error} />
        <div className="form-actions">
          <button className="primary" onClick={save} disabled={action.busy} data-testid="wg-save">
            {t("Save")}
          </button>
        </div>
      </Card>
      <Card
        title={t("Peers")}
        count={peers.length}
        flush
        actions={
          <>
            {sel.length > 0 && (
              <button className="danger" onClick={() => void removeSelected()}>
                {t("Delete")}
              </button>
            )}
            {sel.length === 1 && (
              <button className="success" onClick={() => setModal({ kind: "edit", peer: sel[0] })}>
                {t("Edit")}
              </button>
            )}
            <button className="primary" onClick={() => setModal({ kind: "add" })} data-testid="wg-add-peer">
              + {t("Add peer")}
            </button>
          </>
        }
      >
        {!peers.length ? (
          <Empty>{t("No peers. Click + Add peer to create one.")}</Empty>
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="wg-peers">
              <thead>
                <tr>
                  <th className="check-col">
                    <span className="sr-only">{t("Select")}</span>
                  </th>
                  <th>{t("Name")}</th>
                  <th>{t("Exit via")}</th>
                  <th>{t("Allowed IPs")}</th>
                  <th>{t("Keepalive")}</th>
                </tr>
              </thead>
              <tbody>
                {peers.map((p) => (
                  <tr key={p.name} className={selected.has(p.name) ? "selected" : ""}>
                    <td className="check-col">
                      <input
                        type="checkbox"
                        aria-label={t("Select {name}", { name: p.name })}
                        checked={selected.has(p.name)}
                        onChange={() => {
                          const next = new Set(selected);
                          if (next.has(p.name)) next.delete(p.name);
                          else next.add(p.name);
                          setSelected(next);
                        }}
                      />
                    </td>
                    <td>
                      <button className="link-btn strong" onClick={() => setModal({ kind: "detail", peer: p })} data-testid={`wg-peer-${p.name}`}>
                        {p.name}
                      </button>
                    </td>
                    <td>
                      <ExitView e={p} />
                    </td>
                    <td className="mono">{p.allowed_ips}</td>
                    <td>{p.keepalive ? `${p.keepalive}s` : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      {(modal?.kind === "add" || modal?.kind === "edit") && <WgPeerModal cfg={wg.data} peer={modal.peer} onClose={() => setModal(null)} onSaved={() => void wg.reload()} />}
      {modal?.kind === "detail" && modal.peer && <WgDetail peer={modal.peer} onClose={() => setModal(null)} />}
    </div>
  );
}

const TABS = [
  { id: "hy2", label: "Hysteria 2" },
  { id: "socks5", label: "SOCKS5" },
  { id: "http", label: "HTTP" },
  { id: "ss", label: "Shadowsocks" },
  { id: "l2tp", label: "L2TP" },
  { id: "ikev2", label: "IKEv2" },
  { id: "wireguard", label: "WireGuard" },
];

export function ProxiesPage() {
  const t = useT();
  const route = useRoute();
  const tab = TABS.some((x) => x.id === route.query.get("tab")) ? (route.query.get("tab") as string) : "hy2";
  return (
    <div className="stack">
      <Tabs label={t("Proxies")} tabs={TABS} active={tab} onChange={(id) => setQuery("tab", id)} />
      <div key={tab}>
        {tab === "hy2" && <Hy2Tab />}
        {tab === "socks5" && <ProxyTab protocol="socks5" />}
        {tab === "http" && <ProxyTab protocol="http" />}
        {tab === "ss" && <SsTab />}
        {tab === "l2tp" && <L2tpTab />}
        {tab === "ikev2" && <Ikev2Tab />}
        {tab === "wireguard" && <WireGuardTab />}
      </div>
    </div>
  );
}

