// Edits exit_paths + exit_mode; suggestions come from the live topology.
import { useId } from "react";
import { useShared } from "../data";
import { useT } from "../i18n";
import type { ExitFields } from "../types";
import { Badge } from "../ui";

export interface ExitValue {
  paths: string[];
  mode: string;
}

export function fromExit(e: ExitFields): ExitValue {
  const paths = e.exit_paths?.length ? e.exit_paths : e.exit_via ? [e.exit_via] : [];
  return { paths, mode: e.exit_mode === "direct" ? "" : e.exit_mode ?? "" };
}

export function toExit(v: ExitValue): Required<ExitFields> {
  const paths = v.paths.map((p) => p.trim()).filter(Boolean);
  return { exit_via: paths[0] ?? "", exit_paths: paths, exit_mode: paths.length ? v.mode : "" };
}

export function exitError(v: ExitValue, t: (k: string) => string): string | null {
  const paths = v.paths.map((p) => p.trim()).filter(Boolean);
  if (v.mode === "aggregate") {
    const last = new Set(paths.map((p) => p.split("/").pop()));
    if (paths.length < 2) return t("Aggregate needs at least two paths");
    if (last.size > 1) return t("Aggregate needs every path to end at the same node");
  }
  if (v.mode === "quality" && paths.length < 2) return t("Quality mode needs at least two paths");
  return null;
}

export function ExitPathsEditor(props: { value: ExitValue; onChange: (v: ExitValue) => void; single?: boolean; label?: string }) {
  const t = useT();
  const { exitPaths, reachable } = useShared();
  const listId = useId();
  const paths = props.value.paths.length ? props.value.paths : [""];
  const set = (paths2: string[]) => props.onChange({ ...props.value, paths: paths2 });
  const err = exitError(props.value, t);
  return (
    <fieldset className="exit-editor" data-testid="exit-editor">
      <legend>{props.label ?? t("Exit path")}</legend>
      <datalist id={listId}>
        {exitPaths.map((p) => (
          <option key={p} value={p} />
        ))}
      </datalist>
      {paths.map((p, i) => (
        <div className="input-group" key={i}>
          <input
            list={listId}
            value={p}
            placeholder={t("direct (this node)")}
            aria-label={t("Exit path {n}", { n: i + 1 })}
            className="mono"
            data-testid={`exit-path-${i}`}
            onChange={(e) => set(paths.map((x, j) => (j === i ? e.target.value : x)))}
          />
          {p && <Badge tone={reachable.has(p.trim()) ? "good" : "bad"}>{reachable.has(p.trim()) ? t("up") : t("down")}</Badge>}
          {i > 0 && (
            <button type="button" className="icon-btn" aria-label={t("Move up")} onClick={() => set(paths.map((x, j) => (j === i - 1 ? paths[i] : j === i ? paths[i - 1] : x)))}>
              ↑
            </button>
          )}
          {paths.length > 1 && (
            <button type="button" className="icon-btn" aria-label={t("Remove path")} onClick={() => set(paths.filter((_, j) => j !== i))}>
              −
            </button>
          )}
        </div>
      ))}
      {!props.single && (
        <div className="row">
          <button type="button" className="link-btn" onClick={() => set([...paths, ""])}>
            + {t("Add fallback path")}
          </button>
          <label className="inline">
            {t("Mode")}
            <select value={props.value.mode} onChange={(e) => props.onChange({ ...props.value, mode: e.target.value })} data-testid="exit-mode">
              <option value="">{t("Failover")}</option>
              <option value="quality">{t("Quality (lowest latency)")}</option>
              <option value="aggregate">{t("Aggregate (bonding)")}</option>
            </select>
          </label>
        </div>
      )}
      {err && <div className="field-error">{err}</div>}
    </fieldset>
  );
}

export function ExitView(props: { e: ExitFields }) {
  const t = useT();
  const { reachable } = useShared();
  const v = fromExit(props.e);
  if (!v.paths.length) return <span className="muted">{t("direct")}</span>;
  return (
    <span className="exit-view mono" title={v.paths.join("\n")}>
      {v.paths[0].split("/").map((hop, i, all) => {
        const prefix = all.slice(0, i + 1).join("/");
        return (
          <span key={i}>
            {i > 0 && <span className="muted"> / </span>}
            <span className={reachable.has(prefix) ? "tone-good" : "tone-bad"}>{hop}</span>
          </span>
        );
      })}
      {v.mode === "quality" && <Badge tone="info">Q</Badge>}
      {v.mode === "aggregate" && <Badge tone="info">A</Badge>}
      {v.paths.length > 1 && <Badge>+{v.paths.length - 1}</Badge>}
    </span>
  );
}
