// Small shared widgets: toasts, modal, confirm, form fields, tabs, badges, states.
import { useEffect, useId, useRef, useState, useSyncExternalStore, type ReactNode } from "react";
import { randomPassword } from "./format";
import { useT } from "./i18n";
import { Icon } from "./icons";

/* ---------- toasts ---------- */
type ToastKind = "success" | "error" | "info";
interface Toast {
  id: number;
  kind: ToastKind;
  text: string;
}
let toasts: Toast[] = [];
let nextToast = 1;
const toastListeners = new Set<() => void>();
const emitToasts = () => toastListeners.forEach((l) => l());

export function toast(text: string, kind: ToastKind = "success"): void {
  const id = nextToast++;
  toasts = [...toasts, { id, kind, text }];
  emitToasts();
  window.setTimeout(
    () => {
      toasts = toasts.filter((t) => t.id !== id);
      emitToasts();
    },
    kind === "error" ? 6000 : 3000,
  );
}
export const toastError = (e: unknown) => toast(e instanceof Error ? e.message : String(e), "error");

export function Toasts() {
  const list = useSyncExternalStore(
    (cb) => {
      toastListeners.add(cb);
      return () => toastListeners.delete(cb);
    },
    () => toasts,
  );
  return (
    <div className="toasts" role="status" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} className={`toast toast-${t.kind}`} data-testid={`toast-${t.kind}`}>
          {t.text}
        </div>
      ))}
    </div>
  );
}

/* ---------- modal ---------- */
export function Modal(props: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
  testid?: string;
}) {
  const t = useT();
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>("input:not([type=hidden]),select,textarea,button.primary");
    (first ?? ref.current)?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose.current();
      if (e.key !== "Tab" || !ref.current) return;
      // Keep keyboard focus inside the dialog while it is open.
      const items = [...ref.current.querySelectorAll<HTMLElement>("a[href],button:not(:disabled),input:not(:disabled),select,textarea,[tabindex='0']")];
      if (!items.length) return;
      const [head, tail] = [items[0], items[items.length - 1]];
      if (e.shiftKey && document.activeElement === head) {
        e.preventDefault();
        tail.focus();
      } else if (!e.shiftKey && document.activeElement === tail) {
        e.preventDefault();
        head.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("keydown", onKey);
      prev?.focus?.();
    };
  }, []);
  return (
    <div className="overlay" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div
        className={`modal${props.wide ? " wide" : ""}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        ref={ref}
        tabIndex={-1}
        data-testid={props.testid}
      >
        <header>
          <h2 id={titleId}>{props.title}</h2>
          <button className="icon-btn" aria-label={t("Close")} onClick={props.onClose}>
            ×
          </button>
        </header>
        <div className="modal-body">{props.children}</div>
        {props.footer && <footer>{props.footer}</footer>}
      </div>
    </div>
  );
}

/* ---------- confirm ---------- */
interface ConfirmReq {
  title: string;
  message: string;
  danger?: boolean;
  confirmText?: string;
  resolve: (ok: boolean) => void;
}
let confirmReq: ConfirmReq | null = null;
const confirmListeners = new Set<() => void>();

export function confirm(opts: Omit<ConfirmReq, "resolve">): Promise<boolean> {
  return new Promise((resolve) => {
    confirmReq = { ...opts, resolve };
    confirmListeners.forEach((l) => l());
  });
}

export function ConfirmHost() {
  const t = useT();
  const req = useSyncExternalStore(
    (cb) => {
      confirmListeners.add(cb);
      return () => confirmListeners.delete(cb);
    },
    () => confirmReq,
  );
  if (!req) return null;
  const done = (ok: boolean) => {
    confirmReq = null;
    confirmListeners.forEach((l) => l());
    req.resolve(ok);
  };
  return (
    <Modal
      title={req.title}
      onClose={() => done(false)}
      testid="confirm"
      footer={
        <>
          <button onClick={() => done(false)}>{t("Cancel")}</button>
          <button className={req.danger ? "danger" : "primary"} data-testid="confirm-ok" onClick={() => done(true)}>
            {req.confirmText ?? t("Confirm")}
          </button>
        </>
      }
    >
      <p>{req.message}</p>
    </Modal>
  );
}

/* ---------- form fields ---------- */
export function Field(props: { label: string; hint?: string; error?: string; children: (id: string) => ReactNode }) {
  const id = useId();
  return (
    <div className={`field${props.error ? " has-error" : ""}`}>
      <label htmlFor={id}>{props.label}</label>
      {props.children(id)}
      {props.error ? (
        <div className="field-error" role="alert">
          {props.error}
        </div>
      ) : (
        props.hint && <div className="hint">{props.hint}</div>
      )}
    </div>
  );
}

export function TextField(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  hint?: string;
  error?: string;
  type?: string;
  placeholder?: string;
  required?: boolean;
  disabled?: boolean;
  testid?: string;
  mono?: boolean;
}) {
  return (
    <Field label={props.label + (props.required ? " *" : "")} hint={props.hint} error={props.error}>
      {(id) => (
        <input
          id={id}
          type={props.type ?? "text"}
          value={props.value}
          placeholder={props.placeholder}
          disabled={props.disabled}
          required={props.required}
          className={props.mono ? "mono" : undefined}
          data-testid={props.testid}
          onChange={(e) => props.onChange(e.target.value)}
        />
      )}
    </Field>
  );
}

export function NumberField(props: {
  label: string;
  value: number;
  onChange: (v: number) => void;
  hint?: string;
  min?: number;
  step?: number;
  testid?: string;
}) {
  return (
    <Field label={props.label} hint={props.hint}>
      {(id) => (
        <input
          id={id}
          type="number"
          value={Number.isFinite(props.value) ? props.value : ""}
          min={props.min}
          step={props.step ?? 1}
          data-testid={props.testid}
          onChange={(e) => props.onChange(e.target.value === "" ? 0 : Number(e.target.value))}
        />
      )}
    </Field>
  );
}

export function SelectField(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: { value: string; label: string }[];
  hint?: string;
  testid?: string;
}) {
  return (
    <Field label={props.label} hint={props.hint}>
      {(id) => (
        <select id={id} value={props.value} data-testid={props.testid} onChange={(e) => props.onChange(e.target.value)}>
          {props.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

export function PasswordField(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  generate?: boolean;
  required?: boolean;
  hint?: string;
  error?: string;
  testid?: string;
  autoComplete?: string;
}) {
  const t = useT();
  const [show, setShow] = useState(false);
  return (
    <Field label={props.label + (props.required ? " *" : "")} hint={props.hint} error={props.error}>
      {(id) => (
        <div className="input-group">
          <input
            id={id}
            type={show ? "text" : "password"}
            value={props.value}
            autoComplete={props.autoComplete ?? "new-password"}
            data-testid={props.testid}
            onChange={(e) => props.onChange(e.target.value)}
          />
          <button type="button" className="icon-btn" aria-label={show ? t("Hide password") : t("Show password")} onClick={() => setShow(!show)}>
            <Icon name={show ? "eyeOff" : "eye"} size={16} />
          </button>
          {props.generate && (
            <button
              type="button"
              className="icon-btn"
              aria-label={t("Generate password")}
              title={t("Generate password")}
              onClick={() => {
                props.onChange(randomPassword());
                setShow(true);
              }}
            >
              <Icon name="dice" size={16} />
            </button>
          )}
        </div>
      )}
    </Field>
  );
}

export function Toggle(props: { label: string; checked: boolean; onChange: (v: boolean) => void; hint?: string; disabled?: boolean; testid?: string }) {
  const id = useId();
  return (
    <div className="toggle-row">
      <label className="switch" htmlFor={id}>
        <input
          id={id}
          type="checkbox"
          role="switch"
          checked={props.checked}
          disabled={props.disabled}
          data-testid={props.testid}
          onChange={(e) => props.onChange(e.target.checked)}
        />
        <span className="slider" aria-hidden="true" />
        <span className="switch-label">{props.label}</span>
      </label>
      {props.hint && <div className="hint">{props.hint}</div>}
    </div>
  );
}

/* ---------- layout bits ---------- */
export function Card(props: { title: ReactNode; count?: number; actions?: ReactNode; children: ReactNode; testid?: string; flush?: boolean }) {
  return (
    <section className="card" data-testid={props.testid}>
      <header className="card-head">
        <h2>
          {props.title}
          {props.count !== undefined && <span className="count">{props.count}</span>}
        </h2>
        {props.actions && <div className="card-actions">{props.actions}</div>}
      </header>
      <div className={props.flush ? "card-body flush" : "card-body"}>{props.children}</div>
    </section>
  );
}

export function Tabs(props: { tabs: { id: string; label: string; disabled?: boolean }[]; active: string; onChange: (id: string) => void; label: string }) {
  return (
    <div className="tabs" role="tablist" aria-label={props.label}>
      {props.tabs.map((tab) => (
        <button
          key={tab.id}
          role="tab"
          aria-selected={tab.id === props.active}
          disabled={tab.disabled}
          className={tab.id === props.active ? "tab active" : "tab"}
          data-testid={`tab-${tab.id}`}
          onClick={() => props.onChange(tab.id)}
        >
          {tab.label}
        </button>
      ))}
    </div>
  );
}

export function Badge(props: { tone?: "good" | "warn" | "bad" | "info" | "muted"; children: ReactNode; title?: string }) {
  return (
    <span className={`badge badge-${props.tone ?? "muted"}`} title={props.title}>
      {props.children}
    </span>
  );
}

export function Empty(props: { children: ReactNode }) {
  return <div className="empty">{props.children}</div>;
}

/** The states every list goes through: loading, failed (with the server's text), empty, or the content. */
export function ListState(props: {
  res: { loading: boolean; data?: unknown; error?: string | null };
  empty: ReactNode;
  children: ReactNode;
}) {
  if (props.res.loading && !props.res.data) return <Loading />;
  if (props.res.error && !props.res.data) return <Empty>{props.res.error}</Empty>;
  if (props.empty) return <Empty>{props.empty}</Empty>;
  return <>{props.children}</>;
}

export function Loading() {
  const t = useT();
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" />
      {t("Loading…")}
    </div>
  );
}

export function Banner(props: { tone: "warn" | "bad" | "info" | "good"; children: ReactNode; testid?: string }) {
  return (
    <div className={`banner banner-${props.tone}`} role="note" data-testid={props.testid}>
      {props.children}
    </div>
  );
}

export function ErrorText(props: { error: string | null }) {
  return props.error ? (
    <div className="form-error" role="alert" data-testid="form-error">
      {props.error}
    </div>
  ) : null;
}

export function Bar(props: { value: number; max: number; label: string }) {
  const pct = props.max > 0 ? Math.min(100, (props.value / props.max) * 100) : 0;
  const tone = pct > 90 ? "bad" : pct > 70 ? "warn" : "good";
  return (
    <div className="bar" role="progressbar" aria-label={props.label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct)}>
      <span className={`bar-fill tone-${tone}`} style={{ width: `${pct}%` }} />
    </div>
  );
}
