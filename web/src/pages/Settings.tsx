import { useEffect, useState } from "react";
import { apiUrl, auth, del, download, post, put, seg } from "../api";
import { useAction, usePoll } from "../hooks";
import { LANGS, getLang, setLang, useT, type Lang } from "../i18n";
import { navigate, setQuery, useRoute } from "../router";
import { sha256Hex } from "../sha256";
import { getTheme, setTheme, type Theme } from "../theme";
import { Banner, Card, Empty, ErrorText, Loading, Modal, NumberField, PasswordField, SelectField, Tabs, TextField, Toggle, confirm, toast, toastError } from "../ui";

function AccountTab() {
  const t = useT();
  const forced = auth.force();
  const [current, setCurrent] = useState("");
  const [username, setUsername] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const action = useAction();
  const mismatch = again && next !== again ? t("The passwords do not match") : undefined;
  const save = () =>
    action.run(async () => {
      if (!current) throw new Error(t("Enter the current password"));
      if (forced && !next) throw new Error(t("Choose a new password"));
      if (next && next.length < 8) throw new Error(t("Use at least 8 characters"));
      if (next !== again) throw new Error(t("The passwords do not match"));
      if (next === "admin") throw new Error(t("Choose a password other than the default"));
      await put("/settings/password", {
        current_password: await sha256Hex(current),
        ...(username ? { new_username: username } : {}),
        ...(next ? { new_password: await sha256Hex(next) } : {}),
      });
      toast(t("Credentials updated"));
      setCurrent("");
      setNext("");
      setAgain("");
      if (forced) {
        auth.setForce(false);
        navigate("nodes", true);
      }
    });
  return (
    <Card title={t("Administrator")} testid="account-card">
      {forced && (
        <Banner tone="warn" testid="force-banner">
          {t("You are signed in with the default password. Choose a new password to continue.")}
        </Banner>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <PasswordField label={t("Current password")} value={current} onChange={setCurrent} required autoComplete="current-password" testid="pw-current" />
        <TextField label={t("New username (optional)")} value={username} onChange={setUsername} testid="pw-username" />
        <PasswordField label={t("New password")} value={next} onChange={setNext} generate required={forced} testid="pw-new" />
        <PasswordField label={t("Confirm new password")} value={again} onChange={setAgain} error={mismatch} required={forced} testid="pw-again" />
        <ErrorText error={action.error} />
        <div className="form-actions">
          <button className="primary" type="submit" disabled={action.busy} data-testid="pw-save">
            {t("Update")}
          </button>
        </div>
      </form>
    </Card>
  );
}

interface ApiToken {
  id: string;
  name: string;
  created_at?: string | number;
  last_used?: number;
}

function fmtTime(v: string | number | null | undefined): string {
  if (v === null || v === undefined || v === "" || v === 0) return "—";
  const d = typeof v === "number" ? new Date(v * 1000) : new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleString();
}

function TokensTab() {
  const t = useT();
  const tokens = usePoll<ApiToken[] | { tokens: ApiToken[] }>("/tokens", 0);
  const [name, setName] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const action = useAction();
  const list = Array.isArray(tokens.data) ? tokens.data : tokens.data?.tokens ?? [];
  const create = () =>
    action.run(async () => {
      if (!name.trim()) throw new Error(t("Name is required"));
      const r = await post<{ token?: string; secret?: string }>("/tokens", { name: name.trim() });
      setSecret(r.token ?? r.secret ?? "");
      setName("");
      await tokens.reload();
    });
  const revoke = async (tok: ApiToken) => {
    if (!(await confirm({ title: t("Revoke token"), message: t("Revoke {name}? Scripts using it stop working.", { name: tok.name }), danger: true, confirmText: t("Revoke") }))) return;
    try {
      await del(`/tokens/${seg(tok.id)}`);
      toast(t("Revoked"));
      await tokens.reload();
    } catch (e) {
      toastError(e);
    }
  };
  return (
    <Card title={t("API tokens")} count={list.length} testid="tokens-card">
      <p className="hint">{t("Long-lived tokens for scripts: send them as Authorization: Bearer <token>.")}</p>
      <div className="row">
        <TextField label={t("Token name")} value={name} onChange={setName} />
        <button className="primary align-end" onClick={create} disabled={action.busy}>
          {t("Create token")}
        </button>
      </div>
      <ErrorText error={action.error ?? (tokens.error && !tokens.data ? tokens.error : null)} />
      {list.length > 0 && (
        <div className="table-wrap">
          <table className="table compact">
            <thead>
              <tr>
                <th>{t("Name")}</th>
                <th>{t("Created")}</th>
                <th>{t("Last used")}</th>
                <th>
                  <span className="sr-only">{t("Actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((tok) => (
                <tr key={tok.id}>
                  <td>{tok.name}</td>
                  <td>{fmtTime(tok.created_at)}</td>
                  <td>{fmtTime(tok.last_used)}</td>
                  <td>
                    <button className="danger small-btn" onClick={() => void revoke(tok)}>
                      {t("Revoke")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {secret !== null && (
        <Modal title={t("New API token")} onClose={() => setSecret(null)} footer={<button onClick={() => setSecret(null)}>{t("Done")}</button>}>
          <p>{t("Copy it now: it is shown only once.")}</p>
          <code className="mono secret">{secret}</code>
        </Modal>
      )}
    </Card>
  );
}

interface UiSettings {
  listen: string;
  configured_listen?: string;
  configured_base_path?: string;
  restart_pending?: boolean;
  port?: number;
  base_path: string;
  dns: string;
  session_timeout_h: number;
  relay_admin_passthrough?: boolean;
  dns_resolver_enabled?: boolean;
  dns_resolver_cache_ttl?: number;
  dns_resolver_negative_ttl?: number;
  dns_resolver_cache_size?: number;
  dns_resolver_query_timeout_ms?: number;
}

function useUiSettings() {
  const s = usePoll<UiSettings>("/settings/ui", 0);
  const [form, setForm] = useState<UiSettings | null>(null);
  useEffect(() => {
    // The form edits the stored values; the running ones may differ until the next restart.
    if (s.data && !form) setForm({ ...s.data, listen: s.data.configured_listen || s.data.listen, base_path: s.data.configured_base_path ?? s.data.base_path });
  }, [s.data, form]);
  return { s, form, setForm };
}

function WebTab() {
  const t = useT();
  const { s, form, setForm } = useUiSettings();
  const action = useAction();
  if (!form) return s.error ? <Empty>{s.error}</Empty> : <Loading />;
  const save = () =>
    action.run(async () => {
      if (form.session_timeout_h <= 0) throw new Error(t("Session timeout must be at least 1 hour"));
      const r = await put<{ note?: string }>("/settings/ui", { listen: form.listen, base_path: form.base_path, session_timeout_h: form.session_timeout_h, relay_admin_passthrough: !!form.relay_admin_passthrough });
      toast(r?.note ? `${t("Saved")}: ${r.note}` : t("Saved"));
      await s.reload();
    });
  return (
    <Card title={t("Web interface")} testid="web-card">
      {s.data?.restart_pending && (
        <Banner tone="warn">{t("Running on {listen} under {base}; restart the node to apply the saved values.", { listen: s.data.listen, base: s.data.base_path || "/" })}</Banner>
      )}
      <TextField label={t("Listen address")} value={form.listen} onChange={(v) => setForm({ ...form, listen: v })} mono hint={t("host:port of this UI and API")} />
      <TextField label={t("Base path")} value={form.base_path} onChange={(v) => setForm({ ...form, base_path: v })} mono hint={t("Keep /scale so peers can open this UI through the relay")} />
      <NumberField label={t("Session timeout (hours)")} value={form.session_timeout_h} min={1} onChange={(v) => setForm({ ...form, session_timeout_h: v })} />
      <Toggle label={t("Allow password-less admin through the relay")} checked={!!form.relay_admin_passthrough} onChange={(v) => setForm({ ...form, relay_admin_passthrough: v })} hint={t("Peers holding this node's server password may open its UI without signing in.")} />
      <p className="hint">{t("The listen address and base path apply after a restart.")}</p>
      <ErrorText error={action.error} />
      <div className="form-actions">
        <button className="primary" onClick={save} disabled={action.busy} data-testid="web-save">
          {t("Save")}
        </button>
      </div>
    </Card>
  );
}

function DnsTab() {
  const t = useT();
  const { s, form, setForm } = useUiSettings();
  const action = useAction();
  if (!form) return s.error ? <Empty>{s.error}</Empty> : <Loading />;
  const save = () =>
    action.run(async () => {
      await put("/settings/ui", {
        dns: form.dns,
        dns_resolver_enabled: form.dns_resolver_enabled,
        dns_resolver_cache_ttl: form.dns_resolver_cache_ttl,
        dns_resolver_negative_ttl: form.dns_resolver_negative_ttl,
        dns_resolver_cache_size: form.dns_resolver_cache_size,
        dns_resolver_query_timeout_ms: form.dns_resolver_query_timeout_ms,
      });
      toast(t("Saved"));
      await s.reload();
    });
  return (
    <Card title={t("DNS")} testid="dns-card">
      <TextField label={t("DNS servers")} value={form.dns} onChange={(v) => setForm({ ...form, dns: v })} mono hint={t("Comma separated; pushed to VPN clients and used by the relay resolver")} testid="dns-servers" />
      <Toggle label={t("Resolve through the exit node")} checked={form.dns_resolver_enabled !== false} onChange={(v) => setForm({ ...form, dns_resolver_enabled: v })} />
      <div className="grid2">
        <NumberField label={t("Cache TTL (s, 0 = default)")} value={form.dns_resolver_cache_ttl ?? 0} min={0} onChange={(v) => setForm({ ...form, dns_resolver_cache_ttl: v })} />
        <NumberField label={t("Negative TTL (s)")} value={form.dns_resolver_negative_ttl ?? 0} min={0} onChange={(v) => setForm({ ...form, dns_resolver_negative_ttl: v })} />
        <NumberField label={t("Cache size (entries)")} value={form.dns_resolver_cache_size ?? 0} min={0} onChange={(v) => setForm({ ...form, dns_resolver_cache_size: v })} />
        <NumberField label={t("Query timeout (ms)")} value={form.dns_resolver_query_timeout_ms ?? 0} min={0} onChange={(v) => setForm({ ...form, dns_resolver_query_timeout_ms: v })} />
      </div>
      <ErrorText error={action.error} />
      <div className="form-actions">
        <button className="primary" onClick={save} disabled={action.busy} data-testid="dns-save">
          {t("Save")}
        </button>
      </div>
    </Card>
  );
}

/** Uploads with progress (fetch has no upload progress). */
function upload(path: string, body: Blob | FormData, contentType: string | null, onProgress: (pct: number) => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", apiUrl(path));
    const token = auth.token();
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    if (contentType) xhr.setRequestHeader("Content-Type", contentType);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(Math.round((e.loaded / e.total) * 100));
    xhr.onload = () => {
      let parsed: { error?: string } | null = null;
      try {
        parsed = JSON.parse(xhr.responseText);
      } catch {
        parsed = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(parsed);
      else reject(new Error(parsed?.error ?? (xhr.responseText.trim() || `${xhr.status}`)));
    };
    xhr.onerror = () => reject(new Error("network error"));
    xhr.send(body);
  });
}

function BackupTab() {
  const t = useT();
  const [file, setFile] = useState<File | null>(null);
  const [pct, setPct] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const restore = async () => {
    if (!file) return;
    if (!(await confirm({ title: t("Restore backup"), message: t("Replace this node's whole configuration with {file}?", { file: file.name }), danger: true, confirmText: t("Restore") }))) return;
    setError(null);
    setPct(0);
    try {
      const form = new FormData();
      form.append("file", file);
      await upload("/restore", form, null, setPct);
      toast(t("Backup restored; reloading…"));
      window.setTimeout(() => location.reload(), 1500);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setPct(null);
    }
  };
  return (
    <Card title={t("Backup & restore")} testid="backup-card">
      <p className="hint">{t("The backup holds the database (users, peers, rules, settings, secrets) and certificates. Keep it private.")}</p>
      <div className="form-actions start">
        <button className="primary" data-testid="backup-download" onClick={() => void download("/backup", "hy2scale-backup.tar.gz").catch(toastError)}>
          {t("Download backup")}
        </button>
      </div>
      <div className="field">
        <label htmlFor="restore-file">{t("Restore from file")}</label>
        <input id="restore-file" type="file" accept=".tar,.gz,.tgz,.tar.gz" onChange={(e) => setFile(e.target.files?.[0] ?? null)} data-testid="restore-file" />
      </div>
      {pct !== null && <progress max={100} value={pct} aria-label={t("Upload progress")} />}
      <ErrorText error={error} />
      <div className="form-actions start">
        <button className="danger" disabled={!file || pct !== null} onClick={() => void restore()} data-testid="restore-btn">
          {t("Restore")}
        </button>
      </div>
    </Card>
  );
}

interface BuildInfo {
  version: string;
  license: string;
  repository: string;
  go_deps?: { path: string; version: string; license?: string }[];
  natives?: { name: string; version: string; license: string; source?: string }[];
}

function SystemTab() {
  const t = useT();
  const info = usePoll<BuildInfo>("/build-info", 0);
  const arch = usePoll<{ os: string; arch: string; version: string; in_docker?: boolean }>("/system/arch", 0);
  const [file, setFile] = useState<File | null>(null);
  const [pct, setPct] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const upgrade = async () => {
    if (!file) return;
    if (!/\.(tar\.gz|tgz)$/.test(file.name)) {
      setError(t("Choose a .tar.gz file with hy2scale wheels"));
      return;
    }
    if (!(await confirm({ title: t("Upgrade"), message: t("Install {file} and restart the node?", { file: file.name }), danger: true, confirmText: t("Upgrade") }))) return;
    setError(null);
    setPct(0);
    try {
      const form = new FormData();
      form.append("file", file);
      await upload("/upgrade", form, null, setPct);
      toast(t("Upgrade installed; the node restarts…"));
      window.setTimeout(() => location.reload(), 5000);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setPct(null);
    }
  };
  return (
    <div className="stack">
      <Card title={t("Upgrade")} testid="upgrade-card">
        <dl className="kv">
          <dt>{t("Version")}</dt>
          <dd>{info.data?.version ?? arch.data?.version ?? "—"}</dd>
          <dt>{t("Platform")}</dt>
          <dd>{arch.data ? `${arch.data.os}/${arch.data.arch}` : "—"}</dd>
        </dl>
        <div className="field">
          <label htmlFor="upgrade-file">{t("Upgrade package (.tar.gz of wheels)")}</label>
          <input id="upgrade-file" type="file" accept=".tar.gz,.tgz" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </div>
        {pct !== null && <progress max={100} value={pct} aria-label={t("Upload progress")} />}
        <ErrorText error={error} />
        <div className="form-actions start">
          <button className="primary" disabled={!file || pct !== null} onClick={() => void upgrade()}>
            {t("Upload and install")}
          </button>
        </div>
      </Card>
      <Card title={t("Build information")} testid="about-card">
        {!info.data ? (
          info.error ? <Empty>{info.error}</Empty> : <Loading />
        ) : (
          <>
            <dl className="kv">
              <dt>{t("License")}</dt>
              <dd>{info.data.license}</dd>
              <dt>{t("Source")}</dt>
              <dd>
                {info.data.repository ? (
                  <a href={info.data.repository} target="_blank" rel="noreferrer">
                    {info.data.repository}
                  </a>
                ) : (
                  "—"
                )}
              </dd>
            </dl>
            {!!info.data.natives?.length && (
              <details>
                <summary>{t("Native components · {n}", { n: info.data.natives.length })}</summary>
                <table className="table compact">
                  <tbody>
                    {info.data.natives.map((n) => (
                      <tr key={n.name}>
                        <td>{n.name}</td>
                        <td>{n.version}</td>
                        <td>{n.license}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </details>
            )}
            {!!info.data.go_deps?.length && (
              <details>
                <summary>{t("Dependencies · {n}", { n: info.data.go_deps.length })}</summary>
                <table className="table compact">
                  <tbody>
                    {info.data.go_deps.map((d) => (
                      <tr key={d.path}>
                        <td>{d.path}</td>
                        <td>{d.version}</td>
                        <td>{d.license ?? ""}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </details>
            )}
          </>
        )}
      </Card>
    </div>
  );
}

function AppearanceTab() {
  const t = useT();
  const [theme, set] = useState<Theme>(getTheme);
  return (
    <Card title={t("Appearance")} testid="appearance-card">
      <SelectField label={t("Language")} value={getLang()} onChange={(v) => setLang(v as Lang)} options={LANGS.map((l) => ({ value: l.code, label: l.label }))} testid="settings-lang" />
      <SelectField
        label={t("Theme")}
        value={theme}
        onChange={(v) => {
          setTheme(v as Theme);
          set(v as Theme);
        }}
        options={[
          { value: "auto", label: t("auto") },
          { value: "light", label: t("light") },
          { value: "dark", label: t("dark") },
        ]}
      />
    </Card>
  );
}

const TABS = ["account", "tokens", "web", "dns", "backup", "system", "appearance"] as const;
const LABELS: Record<(typeof TABS)[number], string> = {
  account: "Account",
  tokens: "API tokens",
  web: "Web",
  dns: "DNS",
  backup: "Backup",
  system: "System",
  appearance: "Appearance",
};

export function SettingsPage() {
  const t = useT();
  const route = useRoute();
  const forced = auth.force();
  const asked = route.query.get("tab") as (typeof TABS)[number] | null;
  const tab = forced ? "account" : asked && TABS.includes(asked) ? asked : "account";
  return (
    <div className="stack">
      <Tabs label={t("Settings")} tabs={TABS.map((id) => ({ id, label: t(LABELS[id]), disabled: forced && id !== "account" }))} active={tab} onChange={(id) => setQuery("tab", id)} />
      <div key={tab}>
        {tab === "account" && <AccountTab />}
        {tab === "tokens" && <TokensTab />}
        {tab === "web" && <WebTab />}
        {tab === "dns" && <DnsTab />}
        {tab === "backup" && <BackupTab />}
        {tab === "system" && <SystemTab />}
        {tab === "appearance" && <AppearanceTab />}
      </div>
    </div>
  );
}

