// Add/edit a peer, import a hysteria2:// URL, edit this node, share this node.
import { useEffect, useMemo, useState } from "react";
import { blobUrl, get, post, put, seg } from "../api";
import { useShared } from "../data";
import { copyText } from "../format";
import { useAction } from "../hooks";
import { parseHy2 } from "../hy2url";
import { useT } from "../i18n";
import type { Cert, Client } from "../types";
import { ErrorText, Modal, NumberField, PasswordField, SelectField, TextField, Toggle, toast } from "../ui";

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/;
const ADDR_RE = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5}(-\d{1,5})?)(,\d{1,5}(-\d{1,5})?)*$/;

function emptyClient(): Client {
  return { name: "", addr: "", addrs: [""], password: "", sni: "", insecure: true, ca: "", max_tx: 0, max_rx: 0, fast_open: false, bbr_profile: "" };
}

export function PeerModal(props: { editName?: string; initial?: Partial<Client>; onClose: () => void; onSaved: () => void }) {
  const t = useT();
  const [c, setC] = useState<Client>(() => ({ ...emptyClient(), ...props.initial }));
  const [loaded, setLoaded] = useState(!props.editName);
  const [certs, setCerts] = useState<Cert[]>([]);
  const action = useAction();
  const [brutal, setBrutal] = useState(() => (props.initial?.max_tx ?? 0) > 0 || (props.initial?.max_rx ?? 0) > 0);

  useEffect(() => {
    void get<Cert[]>("/tls").then((l) => setCerts(l ?? []), () => undefined);
    if (!props.editName) return;
    void get<Client[]>("/clients").then((list) => {
      const found = list.find((x) => x.name === props.editName);
      if (found) {
        setC({ ...emptyClient(), ...found, addrs: found.addrs?.length ? found.addrs : [found.addr] });
        setBrutal(found.max_tx > 0 || found.max_rx > 0);
      }
      setLoaded(true);
    }, action.setError);
  }, [props.editName]);

  const addrs = c.addrs ?? [""];
  const setAddr = (i: number, v: string) => setC({ ...c, addrs: addrs.map((a, j) => (j === i ? v : a)) });
  const nameError = c.name && !NAME_RE.test(c.name) ? t("Letters, digits, '.' and '-' only (max 63)") : undefined;
  const badAddr = addrs.map((a) => a.trim()).filter(Boolean).find((a) => !ADDR_RE.test(a));

  const save = () =>
    action.run(async () => {
      const list = addrs.map((a) => a.trim()).filter(Boolean);
      if (!list.length) throw new Error(t("At least one address is required"));
      if (badAddr) throw new Error(t("Invalid address: {addr}", { addr: badAddr }));
      const body: Client = {
        ...c,
        name: c.name.trim() || list[0].replace(/[^A-Za-z0-9.-]/g, "-"),
        addr: list[0],
        addrs: list,
        max_tx: brutal ? c.max_tx : 0,
        max_rx: brutal ? c.max_rx : 0,
      };
      delete body.connected;
      if (props.editName) await put(`/clients/${seg(props.editName)}`, body);
      else await post("/clients", body);
      toast(props.editName ? t("Peer saved") : t("Peer added"));
      props.onSaved();
      props.onClose();
    });

  return (
    <Modal
      title={props.editName ? t("Edit peer") : t("Add peer")}
      onClose={props.onClose}
      testid="peer-modal"
      footer={
        <>
          <button onClick={props.onClose}>{t("Cancel")}</button>
          <button className="primary" disabled={action.busy || !loaded} onClick={save} data-testid="peer-save">
            {props.editName ? t("Save") : t("Connect")}
          </button>
        </>
      }
    >
      <TextField label={t("Name")} value={c.name} onChange={(v) => setC({ ...c, name: v })} error={nameError} hint={t("Leave empty to use the address")} testid="node-name-input" />
      <fieldset className="addr-list">
        <legend>{t("Addresses")} *</legend>
        {addrs.map((a, i) => (
          <div className="input-group" key={i}>
            <input
              aria-label={t("Address {n}", { n: i + 1 })}
              placeholder="host:port"
              value={a}
              data-testid={`peer-addr-${i}`}
              onChange={(e) => setAddr(i, e.target.value)}
            />
            {addrs.length > 1 && (
              <button type="button" className="icon-btn" aria-label={t("Remove address")} onClick={() => setC({ ...c, addrs: addrs.filter((_, j) => j !== i) })}>
                −
              </button>
            )}
          </div>
        ))}
        <button type="button" className="link-btn" onClick={() => setC({ ...c, addrs: [...addrs, ""] })}>
          + {t("Add address")}
        </button>
        {badAddr && <div className="field-error">{t("Invalid address: {addr}", { addr: badAddr })}</div>}
      </fieldset>
      <PasswordField label={t("Password")} value={c.password} onChange={(v) => setC({ ...c, password: v })} required testid="peer-password" />
      <div className="grid2">
        <TextField label="SNI" value={c.sni} onChange={(v) => setC({ ...c, sni: v })} />
        <SelectField
          label={t("CA certificate")}
          value={c.ca}
          onChange={(v) => setC({ ...c, ca: v })}
          options={[{ value: "", label: t("None (system roots)") }, ...certs.map((x) => ({ value: x.cert_file ?? x.id, label: `${x.is_ca ? "[CA] " : ""}${x.name || x.id}` }))]}
        />
      </div>
      <Toggle label={t("Skip certificate verification")} checked={c.insecure} onChange={(v) => setC({ ...c, insecure: v })} />
      <Toggle label={t("Fast open")} checked={!!c.fast_open} onChange={(v) => setC({ ...c, fast_open: v })} />
      <Toggle label={t("Brutal congestion control")} checked={brutal} onChange={setBrutal} testid="brutal-toggle" />
      {brutal && (
        <div className="grid2">
          <NumberField label={t("Upload (Mbps)")} value={Math.round(c.max_tx / 125_000)} min={0} onChange={(v) => setC({ ...c, max_tx: v * 125_000 })} testid="brutal-up" />
          <NumberField label={t("Download (Mbps)")} value={Math.round(c.max_rx / 125_000)} min={0} onChange={(v) => setC({ ...c, max_rx: v * 125_000 })} testid="brutal-down" />
        </div>
      )}
      <SelectField
        label={t("QUIC client")}
        value={c.quic_backend ?? "aioquic"}
        onChange={(v) => setC({ ...c, quic_backend: v })}
        hint={t("qh3 is several times faster but has no Brutal: the bandwidth above is ignored")}
        testid="peer-quic-backend"
        options={[
          { value: "aioquic", label: t("aioquic (default)") },
          { value: "qh3", label: "qh3" },
        ]}
      />
      <SelectField
        label={t("BBR profile")}
        value={c.bbr_profile ?? ""}
        onChange={(v) => setC({ ...c, bbr_profile: v })}
        options={[
          { value: "", label: t("Default") },
          { value: "standard", label: t("Standard") },
          { value: "conservative", label: t("Conservative") },
          { value: "aggressive", label: t("Aggressive") },
        ]}
      />
      <ErrorText error={action.error} />
    </Modal>
  );
}

export function ImportUrlModal(props: { onClose: () => void; onSaved: () => void }) {
  const t = useT();
  const [text, setText] = useState("");
  const action = useAction();
  const parsed = useMemo(() => {
    if (!text.trim()) return null;
    try {
      return { link: parseHy2(text), error: null };
    } catch (e) {
      return { link: null, error: (e as Error).message };
    }
  }, [text]);
  const link = parsed?.link;
  const save = () =>
    action.run(async () => {
      if (!link) return;
      const addr = `${link.host}:${link.port}`;
      await post("/clients", {
        name: NAME_RE.test(link.name) ? link.name : link.host.replace(/[^A-Za-z0-9.-]/g, "-").replace(/^[-.]+/, ""),
        addr,
        addrs: [addr],
        password: link.password,
        sni: link.sni,
        insecure: link.insecure,
        ca: "",
        max_tx: link.upBps,
        max_rx: link.downBps,
        fast_open: link.fastOpen,
      });
      toast(t("Peer added"));
      props.onSaved();
      props.onClose();
    });
  return (
    <Modal
      title={t("Import from hysteria2:// URL")}
      onClose={props.onClose}
      testid="import-url-modal"
      footer={
        <>
          <button onClick={props.onClose}>{t("Cancel")}</button>
          <button className="primary" disabled={!link || action.busy} onClick={save} data-testid="import-url-save">
            {t("Import")}
          </button>
        </>
      }
    >
      <div className="field">
        <label htmlFor="hy2-url">{t("URL")}</label>
        <textarea id="hy2-url" rows={3} className="mono" value={text} onChange={(e) => setText(e.target.value)} data-testid="hy2-import-url" placeholder="hysteria2://password@host:443/?sni=example.com#name" />
      </div>
      {parsed?.error && <div className="field-error">{parsed.error}</div>}
      {link && (
        <dl className="preview" data-testid="hy2-import-preview">
          <dt>{t("Name")}</dt>
          <dd>{link.name}</dd>
          <dt>{t("Address")}</dt>
          <dd className="mono">{`${link.host}:${link.port}`}</dd>
          <dt>{t("Password")}</dt>
          <dd className="mono">{"•".repeat(Math.min(12, link.password.length))}</dd>
          <dt>SNI</dt>
          <dd>{link.sni || "—"}</dd>
          <dt>{t("Skip certificate verification")}</dt>
          <dd>{link.insecure ? t("Yes") : t("No")}</dd>
          <dt>{t("Bandwidth")}</dt>
          <dd>
            ↑ {Math.round(link.upBps / 125_000)} / ↓ {Math.round(link.downBps / 125_000)} Mbps
          </dd>
          {link.ignored.length > 0 && (
            <>
              <dt>{t("Ignored")}</dt>
              <dd>{link.ignored.join(", ")}</dd>
            </>
          )}
        </dl>
      )}
      <ErrorText error={action.error} />
    </Modal>
  );
}

export function SelfModal(props: { onClose: () => void }) {
  const t = useT();
  const { node } = useShared();
  const info = node.data;
  const [name, setName] = useState(info?.name || info?.node_id || "");
  const [exitNode, setExitNode] = useState(!!info?.exit_node);
  const [listen, setListen] = useState(info?.server?.listen ?? "0.0.0.0:5565");
  const [password, setPassword] = useState(info?.server?.password ?? "");
  const [cert, setCert] = useState(info?.server?.tls_cert ?? "");
  const [userAuth, setUserAuth] = useState(!!info?.hy2_user_auth);
  const [certs, setCerts] = useState<Cert[]>([]);
  const action = useAction();
  useEffect(() => void get<Cert[]>("/tls").then((l) => setCerts((l ?? []).filter((c) => c.key_file)), () => undefined), []);
  const certOptions = [
    { value: "", label: t("Self-signed (automatic)") },
    ...certs.map((c) => ({ value: c.cert_file ?? c.id, label: c.name || c.id })),
  ];
  if (cert && !certOptions.some((o) => o.value === cert)) certOptions.push({ value: cert, label: cert });
  const save = () =>
    action.run(async () => {
      if (!NAME_RE.test(name)) throw new Error(t("Letters, digits, '.' and '-' only (max 63)"));
      if (password.length < 6) throw new Error(t("The server password needs at least 6 characters"));
      const chosen = certs.find((c) => (c.cert_file ?? c.id) === cert);
      const old = info?.server;
      // The server block restarts the hy2 listener, so it is sent only when it really changed.
      const serverChanged = !old || old.listen !== listen || old.password !== password || (old.tls_cert ?? "") !== cert;
      await put("/node", {
        name,
        exit_node: exitNode,
        hy2_user_auth: userAuth,
        ...(serverChanged ? { server: { listen, password, tls_cert: cert, tls_key: chosen?.key_file ?? (cert ? old?.tls_key ?? "" : "") } } : {}),
      });
      toast(t("Node saved"));
      await node.reload();
      props.onClose();
    });
  return (
    <Modal
      title={t("Edit this node")}
      onClose={props.onClose}
      testid="self-modal"
      footer={
        <>
          <button onClick={props.onClose}>{t("Cancel")}</button>
          <button className="primary" onClick={save} disabled={action.busy} data-testid="self-save">
            {t("Save")}
          </button>
        </>
      }
    >
      <TextField label={t("Name")} value={name} onChange={setName} required hint={t("Node ID: {id}", { id: info?.node_id ?? "" })} testid="self-name" />
      <Toggle label={t("Exit node")} checked={exitNode} onChange={setExitNode} hint={t("Peers may send traffic out to the internet through this node")} />
      <TextField label={t("Hysteria 2 listen address")} value={listen} onChange={setListen} mono hint={t("host:port; the port may be a range such as 20000-30000")} />
      <PasswordField label={t("Server password")} value={password} onChange={setPassword} generate required hint={t("Peers use it to connect; it must differ from every user's password")} />
      <SelectField label={t("TLS certificate")} value={cert} onChange={setCert} options={certOptions} />
      <Toggle label={t("Allow user authentication on Hysteria 2")} checked={userAuth} onChange={setUserAuth} />
      <ErrorText error={action.error} />
    </Modal>
  );
}

export function ShareSelfModal(props: { onClose: () => void }) {
  const t = useT();
  const { node } = useShared();
  const info = node.data;
  const listen = info?.server?.listen ?? "";
  const bound = listen.slice(0, listen.lastIndexOf(":"));
  const [host, setHost] = useState(["0.0.0.0", "::", "[::]", ""].includes(bound) ? location.hostname : bound);
  const [insecure, setInsecure] = useState(true);
  const [url, setUrl] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [qr, setQr] = useState<string | null>(null);
  useEffect(() => {
    let revoke = "";
    let live = true;
    // Debounced: the link is built by the server from the stored listen spec and password.
    const timer = window.setTimeout(async () => {
      try {
        const r = await get<{ url: string }>(`/node/share-url?host=${encodeURIComponent(host)}&insecure=${insecure}`);
        if (!live) return;
        setUrl(r.url);
        setError(null);
        revoke = await blobUrl(`/wireguard/qr?text=${encodeURIComponent(r.url)}`);
        if (live) setQr(revoke);
      } catch (e) {
        if (live) {
          setError((e as Error).message);
          setUrl("");
          setQr(null);
        }
      }
    }, 250);
    return () => {
      live = false;
      window.clearTimeout(timer);
      if (revoke) URL.revokeObjectURL(revoke);
    };
  }, [host, insecure]);
  return (
    <Modal title={t("Share this node")} onClose={props.onClose} testid="share-self-modal" footer={<button onClick={props.onClose}>{t("Close")}</button>}>
      <TextField label={t("Public host")} value={host} onChange={setHost} hint={t("The address peers use to reach this node")} />
      <Toggle label={t("Clients skip certificate verification")} checked={insecure} onChange={setInsecure} hint={t("Needed while the node uses a self-signed certificate")} />
      {error ? (
        <div className="field-error">{error}</div>
      ) : (
        url && (
          <>
            <div className="share-url">
              <code className="mono" data-testid="export-self-hy2-url">
                {url}
              </code>
              <button
                onClick={() =>
                  void copyText(url).then(
                    () => toast(t("Copied")),
                    () => toast(t("Copy failed"), "error"),
                  )
                }
              >
                {t("Copy")}
              </button>
            </div>
            {qr && <img className="qr" src={qr} alt={t("QR code of the share URL")} width={220} height={220} />}
          </>
        )
      )}
    </Modal>
  );
}
