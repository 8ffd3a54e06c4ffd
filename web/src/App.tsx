import { useEffect, useState } from "react";
import { BASE, SESSION_EXPIRED, auth, get, post } from "./api";
import { SharedData, useShared } from "./data";
import { LANGS, getLang, setLang, useT, type Lang } from "./i18n";
import { Link, navigate, useRoute } from "./router";
import { getTheme, setTheme, type Theme } from "./theme";
import { Icon } from "./icons";
import { ConfirmHost, Toasts } from "./ui";
import { LoginPage } from "./pages/Login";
import { NodesPage } from "./pages/Nodes";
import { UsersPage } from "./pages/Users";
import { SessionsPage } from "./pages/Sessions";
import { ProxiesPage } from "./pages/Proxies";
import { RulesPage } from "./pages/Rules";
import { TlsPage } from "./pages/Tls";
import { SettingsPage } from "./pages/Settings";

const PAGES: { id: string; label: string; icon: string }[] = [
  { id: "nodes", label: "Nodes", icon: "nodes" },
  { id: "users", label: "Users", icon: "users" },
  { id: "sessions", label: "Sessions", icon: "sessions" },
  { id: "proxies", label: "Proxies", icon: "proxies" },
  { id: "rules", label: "Rules", icon: "rules" },
  { id: "tls", label: "TLS", icon: "tls" },
  { id: "settings", label: "Settings", icon: "settings" },
];

export function logout(): void {
  void post("/logout").catch(() => undefined);
  auth.clear();
  location.replace(`${BASE}/login`);
}

function useBuildWatch(): void {
  useEffect(() => {
    if (!window.__BUILD_ID__) return;
    const check = async () => {
      try {
        const r = await get<{ build_id: string }>("/build-id");
        if (r.build_id && r.build_id !== window.__BUILD_ID__) window.setTimeout(() => location.reload(), 300);
      } catch {
        /* the node may be restarting; try again later */
      }
    };
    const first = window.setTimeout(check, 10_000);
    const every = window.setInterval(check, 60_000);
    window.addEventListener("focus", check);
    return () => {
      window.clearTimeout(first);
      window.clearInterval(every);
      window.removeEventListener("focus", check);
    };
  }, []);
}

export function LangSelect() {
  const t = useT();
  return (
    <label className="lang-select">
      <span className="sr-only">{t("Language")}</span>
      <select value={getLang()} onChange={(e) => setLang(e.target.value as Lang)} data-testid="lang-select" aria-label={t("Language")}>
        {LANGS.map((l) => (
          <option key={l.code} value={l.code}>
            {l.label}
          </option>
        ))}
      </select>
    </label>
  );
}

function ThemeButton() {
  const t = useT();
  const [theme, set] = useState<Theme>(getTheme);
  const next: Theme = theme === "auto" ? "dark" : theme === "dark" ? "light" : "auto";
  const icon = theme === "dark" ? "moon" : theme === "light" ? "sun" : "auto";
  return (
    <button
      className="icon-btn"
      data-testid="theme-toggle"
      aria-label={t("Theme: {mode}", { mode: t(theme) })}
      title={t("Theme: {mode}", { mode: t(theme) })}
      onClick={() => {
        setTheme(next);
        set(next);
      }}
    >
      <Icon name={icon} />
    </button>
  );
}

function Shell(props: { page: string }) {
  const t = useT();
  const { node } = useShared();
  const [menu, setMenu] = useState(false);
  const forced = auth.force();
  const info = node.data;
  useEffect(() => {
    document.title = `${info?.name || info?.node_id || ""}${info ? " - " : ""}HY2 SCALE`;
  }, [info]);
  const current = PAGES.find((p) => p.id === props.page) ?? PAGES[0];
  return (
    <div className={`shell${menu ? " menu-open" : ""}`}>
      <a className="skip" href="#main">
        {t("Skip to content")}
      </a>
      <nav className="sidebar" aria-label={t("Main")}>
        <div className="brand">
          <img src="./logo.svg" alt="" width="28" height="28" />
          <span>HY2 SCALE</span>
          {info && <span className={`ver ${info.limited ? "bad" : info.compat ? "warn" : ""}`}>v{info.version}</span>}
        </div>
        <ul>
          {PAGES.map((p) => (
            <li key={p.id}>
              {forced && p.id !== "settings" ? (
                <span className="nav-item disabled" aria-disabled="true">
                  <span className="nav-icon"><Icon name={p.icon} /></span>
                  {t(p.label)}
                </span>
              ) : (
                <Link to={p.id} className={p.id === current.id ? "nav-item active" : "nav-item"} onClick={() => setMenu(false)}>
                  <span className="nav-icon"><Icon name={p.icon} /></span>
                  {t(p.label)}
                </Link>
              )}
            </li>
          ))}
        </ul>
        <button className="nav-item logout" onClick={logout} data-testid="logout">
          <span className="nav-icon"><Icon name="logout" /></span>
          {t("Log out")}
        </button>
      </nav>
      <div className="scrim" onClick={() => setMenu(false)} aria-hidden="true" />
      <div className="main-col">
        <header className="topbar">
          <button className="icon-btn hamburger" aria-label={t("Menu")} aria-expanded={menu} onClick={() => setMenu(!menu)}>
            <Icon name="menu" />
          </button>
          <h1>{t(current.label)}</h1>
          {info && (
            <span className="pill" title={info.node_id}>
              {info.name || info.node_id}
            </span>
          )}
          <div className="topbar-right">
            <ThemeButton />
            <LangSelect />
          </div>
        </header>
        <main id="main" className="page" key={current.id}>
          {current.id === "nodes" && <NodesPage />}
          {current.id === "users" && <UsersPage />}
          {current.id === "sessions" && <SessionsPage />}
          {current.id === "proxies" && <ProxiesPage />}
          {current.id === "rules" && <RulesPage />}
          {current.id === "tls" && <TlsPage />}
          {current.id === "settings" && <SettingsPage />}
        </main>
      </div>
    </div>
  );
}

export function App() {
  const route = useRoute();
  const [authed, setAuthed] = useState(() => !!auth.token());
  useBuildWatch();
  useEffect(() => {
    const expired = () => {
      auth.clear();
      setAuthed(false);
      navigate("login", true);
    };
    window.addEventListener(SESSION_EXPIRED, expired);
    return () => window.removeEventListener(SESSION_EXPIRED, expired);
  }, []);
  useEffect(() => {
    if (!authed && route.page !== "login") navigate("login", true);
    else if (authed && auth.force() && route.page !== "settings") navigate("settings?tab=account", true);
    else if (authed && (route.page === "login" || !PAGES.some((p) => p.id === route.page))) navigate("nodes", true);
  }, [authed, route.page]);
  return (
    <>
      {!authed || route.page === "login" ? (
        <LoginPage onLogin={() => setAuthed(true)} />
      ) : (
        <SharedData fast={route.page === "nodes"} enabled={!auth.force()}>
          <Shell page={route.page} />
        </SharedData>
      )}
      <Toasts />
      <ConfirmHost />
    </>
  );
}
