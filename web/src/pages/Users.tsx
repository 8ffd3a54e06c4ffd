import { useEffect, useMemo, useRef, useState } from "react";
import { ApiError, blobUrl, del, download, get, post, put, seg } from "../api";
import { GB, bytes, copyText, today } from "../format";
import { useAction, usePoll } from "../hooks";
import { useT } from "../i18n";
import type { User } from "../types";
import { Badge, Bar, Card, Empty, ErrorText, ListState, Loading, Modal, NumberField, PasswordField, Tabs, TextField, Toggle, confirm, toast, toastError } from "../ui";
import { ExitPathsEditor, ExitView, exitError, fromExit, toExit, type ExitValue } from "./ExitPaths";

const PROXIES: { key: string; label: string; passwordOnly: boolean }[] = [
  { key: "hy2", label: "Hysteria 2", passwordOnly: true },
  { key: "ss", label: "Shadowsocks", passwordOnly: true },
  { key: "socks5", label: "SOCKS5", passwordOnly: false },
  { key: "http", label: "HTTP", passwordOnly: false },
  { key: "l2tp", label: "L2TP/IPsec", passwordOnly: false },
  { key: "ikev2", label: "IKEv2", passwordOnly: false },
  { key: "wireguard", label: "WireGuard", passwordOnly: false },
];

type Conflicts = Record<string, Record<string, string[]>>;

/** Bulk endpoint first; nodes without it get one request per user. */
async function bulk(action: string, ids: string[], extra: Record<string, unknown> = {}): Promise<void> {
  try {
    await post("/users/bulk", { action, ids, ...extra });
    return;
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) throw e;
  }
  for (const id of ids) {
    if (action === "enable" || action === "disable") await put(`/users/${seg(id)}/toggle`, { enabled: action === "enable" });
    else if (action === "delete") await del(`/users/${seg(id)}`);
    else if (action === "reset-traffic") await put(`/users/${seg(id)}/reset-traffic`);
  }
}

function UserModal(props: { user?: User; onClose: () => void; onSaved: () => void }) {
  const t = useT();
  const u = props.user;
  const [tab, setTab] = useState("general");
  const [username, setUsername] = useState(u?.username ?? "");
  const [password, setPassword] = useState(u?.password ?? "");
  const [exit, setExit] = useState<ExitValue>(() => fromExit(u ?? {}));
  const [limitGb, setLimitGb] = useState(u ? Math.round(((u.traffic_limit ?? 0) / GB) * 100) / 100 : 0);
  const [expiry, setExpiry] = useState(u?.expiry_date ?? "");
  const [enabled, setEnabled] = useState(u?.enabled ?? true);
  const [disabledProxies, setDisabledProxies] = useState<string[]>(u?.proxy_disabled ?? []);
  const [proxyPw, setProxyPw] = useState<Record<string, string>>(u?.proxy_passwords ?? {});
  const action = useAction();
  const save = () =>
    action.run(async () => {
      if (!username.trim()) throw new Error(t("Username is required"));
      if (!password) throw new Error(t("Password is required"));
      const exErr = exitError(exit, t);
      if (exErr) throw new Error(exErr);
      const pw = Object.fromEntries(Object.entries(proxyPw).filter(([, v]) => v));
      const body = {
        username: username.trim(),
        password,
        ...toExit(exit),
        traffic_limit: Math.round(limitGb * GB),
        expiry_date: expiry,
        enabled,
        proxy_disabled: disabledProxies,
        proxy_passwords: pw,
      };
      if (u) await put(`/users/${seg(u.id)}`, body);
      else await post("/users", body);
      toast(u ? t("User saved") : t("User created"));
      props.onSaved();
      props.onClose();
    });
  return (
    <Modal
      title={u ? t("Edit user {name}", { name: u.username }) : t("Add user")}
      onClose={props.onClose}
      wide
      testid="user-modal"
      footer={
        <>
          <button onClick={props.onClose}>{t("Cancel")}</button>
          <button className="primary" onClick={save} disabled={action.busy} data-testid="user-save">
            {t("Save")}
          </button>
        </>
      }
    >
      <Tabs label={t("User settings")} tabs={[{ id: "general", label: t("General") }, { id: "proxies", label: t("Proxy access") }]} active={tab} onChange={setTab} />
      {tab === "general" ? (
        <>
          <div className="grid2">
            <TextField label={t("Username")} value={username} onChange={setUsername} required testid="user-username" />
            <PasswordField label={t("Password")} value={password} onChange={setPassword} generate required testid="user-password" />
          </div>
          <ExitPathsEditor value={exit} onChange={setExit} />
          <div className="grid2">
            <NumberField label={t("Traffic limit (GB, 0 = unlimited)")} value={limitGb} min={0} step={0.5} onChange={setLimitGb} testid="user-limit" />
            <TextField label={t("Expiry date")} type="date" value={expiry} onChange={setExpiry} hint={t("Empty = never")} testid="user-expiry" />
          </div>
          <Toggle label={t("Enabled")} checked={enabled} onChange={setEnabled} testid="user-enabled" />
        </>
      ) : (
        <table className="table compact">
          <thead>
            <tr>
              <th>{t("Proxy")}</th>
              <th>{t("Allowed")}</th>
              <th>{t("Own password")}</th>
            </tr>
          </thead>
          <tbody>
            {PROXIES.map((p) => (
              <tr key={p.key}>
                <td>{p.label}</td>
                <td>
                  <input
                    type="checkbox"
                    aria-label={t("Allow {proxy}", { proxy: p.label })}
                    data-testid={`proxy-enable-${p.key}`}
                    checked={!disabledProxies.includes(p.key)}
                    onChange={(e) => setDisabledProxies(e.target.checked ? disabledProxies.filter((x) => x !== p.key) : [...disabledProxies, p.key])}
                  />
                </td>
                <td>
                  {p.passwordOnly ? (
                    <input
                      aria-label={t("{proxy} password", { proxy: p.label })}
                      placeholder={t("same as main password")}
                      value={proxyPw[p.key] ?? ""}
                      onChange={(e) => setProxyPw({ ...proxyPw, [p.key]: e.target.value })}
                    />
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorText error={action.error} />
    </Modal>
  );
}

interface ShareInfo {
  links: { proxy: string; name: string; uri: string }[];
  subscription: string;
}

function QrImage(props: { path: string; alt: string }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    let url = "";
    void blobUrl(props.path).then(
      (u) => {
        url = u;
        setSrc(u);
      },
      () => setSrc(null),
    );
    return () => {
      if (url) URL.revokeObjectURL(url);
    };
  }, [props.path]);
  return src ? <img className="qr" src={src} alt={props.alt} width={200} height={200} data-testid="share-qr" /> : <div className="qr qr-empty" />;
}

function ShareModal(props: { user: User; onClose: () => void }) {
  const t = useT();
  const [info, setInfo] = useState<ShareInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [qr, setQr] = useState<string | null>(null);
  const host = encodeURIComponent(location.hostname);
  useEffect(() => {
    void get<ShareInfo>(`/users/${seg(props.user.id)}/share?host=${host}`).then(setInfo, (e: Error) => setError(e.message));
  }, [props.user.id, host]);
  const copy = (s: string) =>
    void copyText(s).then(
      () => toast(t("Copied")),
      () => toast(t("Copy failed"), "error"),
    );
  return (
    <Modal title={t("Share {name}", { name: props.user.username })} onClose={props.onClose} wide testid="share-modal" footer={<button onClick={props.onClose}>{t("Close")}</button>}>
      {error && <ErrorText error={error} />}
      {!info && !error && <Loading />}
      {info && info.links.length === 0 && <Empty>{t("No proxy this user may use is running.")}</Empty>}
      {info?.links.map((l) => (
        <div className="share-url" key={l.uri} data-testid={`share-link-${l.proxy}`}>
          <Badge tone="info">{l.name || l.proxy}</Badge>
          <code className="mono">{l.uri}</code>
          <button onClick={() => copy(l.uri)}>{t("Copy")}</button>
          <button onClick={() => setQr(qr === l.proxy ? null : l.proxy)} aria-pressed={qr === l.proxy} aria-label={t("QR code of {proxy}", { proxy: l.name || l.proxy })}>
            QR
          </button>
        </div>
      ))}
      {qr && <QrImage path={`/users/${seg(props.user.id)}/qr?proxy=${encodeURIComponent(qr)}&host=${host}`} alt={t("QR code of the share link")} />}
      {info?.subscription && (
        <div className="share-url">
          <Badge tone="good">{t("Subscription")}</Badge>
          <code className="mono" data-testid="sub-url">
            {info.subscription}
          </code>
          <button onClick={() => copy(info.subscription)}>{t("Copy")}</button>
        </div>
      )}
      <p className="hint">{t("The subscription serves every link above as base64, sing-box (?format=singbox) or Clash (?format=clash).")}</p>
    </Modal>
  );
}

function ImportModal(props: { onClose: () => void; onSaved: () => void }) {
  const t = useT();
  const [file, setFile] = useState<File | null>(null);
  const [overwrite, setOverwrite] = useState(false);
  const action = useAction();
  const save = () =>
    action.run(async () => {
      if (!file) throw new Error(t("Choose a .xlsx file"));
      const form = new FormData();
      form.append("file", file);
      const r = await post<{ added?: number; updated?: number; skipped?: number; errors?: unknown[] | number }>(`/users/import?overwrite=${overwrite ? 1 : 0}`, form);
      const errs = Array.isArray(r.errors) ? r.errors.length : r.errors ?? 0;
      toast(t("Imported: {a} added, {u} updated, {s} skipped, {e} errors", { a: r.added ?? 0, u: r.updated ?? 0, s: r.skipped ?? 0, e: errs }), errs ? "info" : "success");
      props.onSaved();
      props.onClose();
    });
  return (
    <Modal
      title={t("Import users")}
      onClose={props.onClose}
      footer={
        <>
          <button onClick={props.onClose}>{t("Cancel")}</button>
          <button className="primary" onClick={save} disabled={action.busy}>
            {t("Import")}
          </button>
        </>
      }
    >
      <div className="field">
        <label htmlFor="users-xlsx">{t("Spreadsheet (.xlsx)")}</label>
        <input id="users-xlsx" type="file" accept=".xlsx" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
      </div>
      <Toggle label={t("Overwrite existing users")} checked={overwrite} onChange={setOverwrite} />
      <ErrorText error={action.error} />
    </Modal>
  );
}

function SetExitModal(props: { ids: string[]; onClose: () => void; onSaved: () => void }) {
  const t = useT();
  const [exit, setExit] = useState<ExitValue>({ paths: [], mode: "" });
  const action = useAction();
  const save = () =>
    action.run(async () => {
      const err = exitError(exit, t);
      if (err) throw new Error(err);
      await post("/users/bulk", { action: "set-exit", ids: props.ids, ...toExit(exit) });
      toast(t("Exit updated"));
      props.onSaved();
      props.onClose();
    });
  return (
    <Modal
      title={t("Set exit for {n} users", { n: props.ids.length })}
      onClose={props.onClose}
      footer={
        <>
          <button onClick={props.onClose}>{t("Cancel")}</button>
          <button className="primary" onClick={save} disabled={action.busy}>
            {t("Apply")}
          </button>
        </>
      }
    >
      <ExitPathsEditor value={exit} onChange={setExit} />
      <ErrorText error={action.error} />
    </Modal>
  );
}

type SortKey = "username" | "traffic" | "expiry";

export function UsersPage() {
  const t = useT();
  const users = usePoll<User[]>("/users", 5000);
  const conflicts = usePoll<Conflicts>("/users/conflicts", 10000);
  const [q, setQ] = useState("");
  const [sort, setSort] = useState<{ key: SortKey; dir: 1 | -1 }>({ key: "username", dir: 1 });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [modal, setModal] = useState<null | { kind: "add" | "edit" | "share" | "import" | "exit"; user?: User }>(null);
  const busy = useRef(false);
  const list = useMemo(() => {
    const needle = q.trim().toLowerCase();
    const rows = (users.data ?? []).filter((u) => !needle || u.username.toLowerCase().includes(needle) || (u.exit_via ?? "").toLowerCase().includes(needle));
    const val = (u: User) => (sort.key === "username" ? u.username.toLowerCase() : sort.key === "traffic" ? u.traffic_used : u.expiry_date || "9999");
    return rows.sort((a, b) => (val(a) < val(b) ? -sort.dir : val(a) > val(b) ? sort.dir : 0));
  }, [users.data, q, sort]);
  useEffect(() => {
    const ids = new Set((users.data ?? []).map((u) => u.id));
    const kept = [...selected].filter((id) => ids.has(id));
    if (kept.length !== selected.size) setSelected(new Set(kept));
  }, [users.data, selected]);

  const sel = (users.data ?? []).filter((u) => selected.has(u.id));
  const refresh = () => {
    void users.reload();
    void conflicts.reload();
  };
  const doBulk = async (act: string, confirmMsg?: string) => {
    if (busy.current) return;
    if (confirmMsg && !(await confirm({ title: t("Are you sure?"), message: confirmMsg, danger: true, confirmText: t("Confirm") }))) return;
    busy.current = true;
    try {
      await bulk(act, [...selected]);
      toast(t("Done"));
      if (act === "delete") setSelected(new Set());
      refresh();
    } catch (e) {
      toastError(e);
    } finally {
      busy.current = false;
    }
  };
  const sortHeader = (key: SortKey, label: string) => (
    <th aria-sort={sort.key === key ? (sort.dir === 1 ? "ascending" : "descending") : "none"}>
      <button className="sort-btn" onClick={() => setSort({ key, dir: sort.key === key ? ((-sort.dir) as 1 | -1) : 1 })}>
        {label} {sort.key === key ? (sort.dir === 1 ? "▲" : "▼") : ""}
      </button>
    </th>
  );
  const all = list.length > 0 && list.every((u) => selected.has(u.id));
  const now = today();

  return (
    <div className="stack">
      <Card
        title={t("Users")}
        count={users.data?.length}
        testid="users-card"
        actions={
          <>
            <input className="search" type="search" placeholder={t("Search")} aria-label={t("Search users")} value={q} onChange={(e) => setQ(e.target.value)} data-testid="users-search" />
            {selected.size > 0 && (
              <span className="chip">
                {t("{n} selected", { n: selected.size })}
                <button className="icon-btn small" aria-label={t("Clear selection")} onClick={() => setSelected(new Set())}>
                  ×
                </button>
              </span>
            )}
            {sel.some((u) => !u.enabled) && <button onClick={() => void doBulk("enable")} data-testid="bulk-enable">{t("Enable")}</button>}
            {sel.some((u) => u.enabled) && <button onClick={() => void doBulk("disable")} data-testid="bulk-disable">{t("Disable")}</button>}
            {sel.length > 0 && <button onClick={() => void doBulk("reset-traffic", t("Reset the traffic counters of {n} users?", { n: sel.length }))}>{t("Reset traffic")}</button>}
            {sel.length > 0 && <button onClick={() => setModal({ kind: "exit" })}>{t("Set exit")}</button>}
            {sel.length > 0 && (
              <button className="danger" onClick={() => void doBulk("delete", t("Delete {n} users? This cannot be undone.", { n: sel.length }))} data-testid="bulk-delete">
                {t("Delete")}
              </button>
            )}
            {sel.length === 1 && (
              <button className="success" onClick={() => setModal({ kind: "edit", user: sel[0] })} data-testid="edit-user-btn">
                {t("Edit")}
              </button>
            )}
            <button onClick={() => void download("/users/export.xlsx", "users.xlsx").catch(toastError)}>{t("Export")}</button>
            <button onClick={() => setModal({ kind: "import" })}>{t("Import")}</button>
            <button className="primary" onClick={() => setModal({ kind: "add" })} data-testid="add-user-btn">
              + {t("Add user")}
            </button>
          </>
        }
        flush
      >
        <ListState res={users} empty={!list.length && (q ? t("No user matches the search.") : t("No users yet. Click + Add user to create one."))}>
          <div className="table-wrap">
            <table className="table" data-testid="users-table">
              <thead>
                <tr>
                  <th className="check-col">
                    <input type="checkbox" aria-label={t("Select all")} checked={all} onChange={() => setSelected(all ? new Set() : new Set(list.map((u) => u.id)))} />
                  </th>
                  {sortHeader("username", t("Username"))}
                  <th>{t("Exit via")}</th>
                  {sortHeader("traffic", t("Traffic"))}
                  {sortHeader("expiry", t("Expiry"))}
                  <th>
                    <span className="sr-only">{t("Share")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((u) => {
                  const conflict = conflicts.data?.[u.username];
                  const expired = !!u.expiry_date && u.expiry_date < now;
                  const over = u.traffic_limit > 0 && u.traffic_used >= u.traffic_limit;
                  return (
                    <tr
                      key={u.id}
                      data-testid={`user-row-${u.username}`}
                      className={[selected.has(u.id) ? "selected" : "", u.enabled ? "" : "faded"].join(" ")}
                      onClick={(e) => {
                        if ((e.target as HTMLElement).closest("a,button,input")) return;
                        setSelected(selected.size === 1 && selected.has(u.id) ? new Set() : new Set([u.id]));
                      }}
                    >
                      <td className="check-col">
                        <input
                          type="checkbox"
                          aria-label={t("Select {name}", { name: u.username })}
                          checked={selected.has(u.id)}
                          onChange={() => {
                            const next = new Set(selected);
                            if (next.has(u.id)) next.delete(u.id);
                            else next.add(u.id);
                            setSelected(next);
                          }}
                        />
                      </td>
                      <td>
                        <button className="link-btn strong" onClick={() => setModal({ kind: "edit", user: u })}>
                          {u.username}
                        </button>
                        {conflict && (
                          <span className="alert-dot" title={Object.entries(conflict).map(([p, names]) => `${p}: ${names.join(", ")}`).join("\n")} aria-label={t("Password conflict")}>
                            !
                          </span>
                        )}
                        {!u.enabled && <Badge>{t("disabled")}</Badge>}
                      </td>
                      <td>
                        <ExitView e={u} />
                      </td>
                      <td className="traffic-cell">
                        <span className={over ? "tone-bad" : ""}>
                          {bytes(u.traffic_used)} / {u.traffic_limit > 0 ? bytes(u.traffic_limit) : "∞"}
                        </span>
                        {u.traffic_limit > 0 && <Bar value={u.traffic_used} max={u.traffic_limit} label={t("Traffic used")} />}
                      </td>
                      <td className={expired ? "tone-bad" : ""}>{u.expiry_date || "—"}</td>
                      <td>
                        <button className="small-btn" onClick={() => setModal({ kind: "share", user: u })} data-testid={`share-${u.username}`}>
                          {t("Share")}
                        </button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </ListState>
      </Card>
      {(modal?.kind === "add" || modal?.kind === "edit") && <UserModal user={modal.user} onClose={() => setModal(null)} onSaved={refresh} />}
      {modal?.kind === "share" && modal.user && <ShareModal user={modal.user} onClose={() => setModal(null)} />}
      {modal?.kind === "import" && <ImportModal onClose={() => setModal(null)} onSaved={refresh} />}
      {modal?.kind === "exit" && <SetExitModal ids={[...selected]} onClose={() => setModal(null)} onSaved={refresh} />}
    </div>
  );
}

