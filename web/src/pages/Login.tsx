import { useState, type FormEvent } from "react";
import { ApiError, auth, post } from "../api";
import { LangSelect } from "../App";
import { useT } from "../i18n";
import { sha256Hex } from "../sha256";
import { Icon } from "../icons";
import { ErrorText } from "../ui";

const USER_KEY = "hy2scale:last-user";

export function LoginPage(props: { onLogin: () => void }) {
  const t = useT();
  const [username, setUsername] = useState(() => localStorage.getItem(USER_KEY) ?? "");
  const [password, setPassword] = useState("");
  const [remember, setRemember] = useState(() => !!localStorage.getItem(USER_KEY));
  const [show, setShow] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await post<{ token: string; force_password_change: boolean }>("/login", {
        username,
        password: await sha256Hex(password),
      });
      auth.set(res.token, remember, !!res.force_password_change);
      if (remember) localStorage.setItem(USER_KEY, username);
      else localStorage.removeItem(USER_KEY);
      props.onLogin();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? t("Invalid username or password") : String((err as Error).message));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="login-page">
      <div className="login-bg" aria-hidden="true" />
      <div className="login-lang">
        <LangSelect />
      </div>
      <main className="login-card">
        <img src="./logo.svg" alt="" width="56" height="56" />
        <h1>HY2 SCALE</h1>
        <p className="muted">{t("Sign in to manage your mesh network")}</p>
        <form onSubmit={submit} data-testid="login-form">
          <div className="field">
            <label htmlFor="login-user">{t("Username")}</label>
            <input id="login-user" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required autoFocus />
          </div>
          <div className="field">
            <label htmlFor="login-pass">{t("Password")}</label>
            <div className="input-group">
              <input
                id="login-pass"
                type={show ? "text" : "password"}
                autoComplete="current-password"
                value={password}
                onChange={(e) => setPassword(e.target.value)}
                required
              />
              <button type="button" className="icon-btn" aria-label={show ? t("Hide password") : t("Show password")} onClick={() => setShow(!show)}>
                <Icon name={show ? "eyeOff" : "eye"} size={16} />
              </button>
            </div>
          </div>
          <label className="check">
            <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} />
            {t("Remember me")}
          </label>
          <ErrorText error={error} />
          <button className="primary block" type="submit" disabled={busy} data-testid="login-submit">
            {busy ? t("Signing in…") : t("Sign in")}
          </button>
        </form>
      </main>
    </div>
  );
}
