import { useEffect, useMemo, useRef, useState } from "react";
import { BASE, auth, del, get, put, seg } from "../api";
import { useShared } from "../data";
import { bytes, latencyTone, rate } from "../format";
import { useLocal, usePoll } from "../hooks";
import { useT } from "../i18n";
import type { Client, Stats } from "../types";
import { Badge, Card, Empty, Loading, confirm, toast, toastError } from "../ui";
import { Graph } from "./Graph";
import { ImportUrlModal, PeerModal, SelfModal, ShareSelfModal } from "./NodeModals";
import { SELF_KEY, flatten, type TopoRow } from "./topoRows";

function Spark(props: { values: number[] }) {
  if (props.values.length < 3) return null;
  const max = Math.max(1, ...props.values);
  const pts = props.values.map((v, i) => `${(i / Math.max(1, props.values.length - 1)) * 100},${30 - (v / max) * 28}`).join(" ");
  return (
    <svg className="spark" viewBox="0 0 100 30" preserveAspectRatio="none" aria-hidden="true">
      <polyline points={pts} fill="none" strokeWidth="1.5" vectorEffect="non-scaling-stroke" />
    </svg>
  );
}

function StatsRow() {
  const t = useT();
  const stats = usePoll<Stats>("/stats", 2000);
  const hist = useRef<Stats[]>([]);
  const s = stats.data;
  if (s && hist.current[hist.current.length - 1] !== s) hist.current = [...hist.current.slice(-59), s];
  const series = (f: (x: Stats) => number) => hist.current.map(f);
  const peak = Math.max(0, ...series((x) => x.tx_rate + x.rx_rate));
  return (
    <div className="stats" data-testid="stats">
      <div className="stat">
        <div className="stat-label">{t("Total traffic")}</div>
        <div className="stat-value">
          <span className="up">↑ {bytes(s?.tx_bytes)}</span> <span className="down">↓ {bytes(s?.rx_bytes)}</span>
        </div>
        <Spark values={series((x) => x.tx_bytes + x.rx_bytes)} />
      </div>
      <div className="stat">
        <div className="stat-label">{t("Speed")}</div>
        <div className="stat-value">
          <span className="up">↑ {rate(s?.tx_rate)}</span> <span className="down">↓ {rate(s?.rx_rate)}</span>
        </div>
        <div className="stat-peak">{t("max {v}", { v: rate(peak) })}</div>
        <Spark values={series((x) => x.tx_rate + x.rx_rate)} />
      </div>
      <div className="stat">
        <div className="stat-label">{t("Connections")}</div>
        <div className="stat-value">{s?.conns ?? "—"}</div>
        <Spark values={series((x) => x.conns)} />
      </div>
      <div className="stat">
        <div className="stat-label">{t("Inbound peers")}</div>
        <div className="stat-value">{s?.exit_clients ?? "—"}</div>
        <Spark values={series((x) => x.exit_clients)} />
      </div>
    </div>
  );
}

export function StatusCell(props: { row: TopoRow }) {
  const t = useT();
  const n = props.row.node;
  if (props.row.kind === "self") return <span className="muted">∞</span>;
  if (n.incompatible) return <Badge tone="bad">{t("incompatible")}</Badge>;
  if (n.conflict) return <Badge tone="bad">{t("conflict")}</Badge>;
  if (n.unsupported) return <Badge tone="warn">{t("unsupported")}</Badge>;
  if (n.disabled) return <Badge tone="muted">{t("disabled")}</Badge>;
  if (!props.row.online) return <Badge tone="bad">{t("offline")}</Badge>;
  const ms = n.latency_ms;
  if (ms === undefined) return <span className="muted">—</span>;
  return <span className={`lat tone-${latencyTone(ms)}`}>{ms} ms</span>;
}

function remoteHref(row: TopoRow): string | null {
  if (window.__PROXY__ || row.kind === "self" || row.node.native || !row.online) return null;
  // The proxy trades this local token for a cookie scoped to the remote path and drops it from the URL.
  return `${BASE}/remote/${row.path}/scale/?token=${encodeURIComponent(auth.token() ?? "")}`;
}

function TreeTable(props: { rows: TopoRow[]; selected: Set<string>; setSelected: (s: Set<string>) => void; version?: string }) {
  const t = useT();
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const visible = props.rows.filter((r) => {
    let p = r.parentKey;
    while (p) {
      if (collapsed.has(p)) return false;
      p = props.rows.find((x) => x.key === p)?.parentKey ?? null;
    }
    return true;
  });
  const hasKids = (key: string) => props.rows.some((r) => r.parentKey === key);
  const all = props.rows.length > 0 && props.rows.every((r) => props.selected.has(r.key));
  const toggle = (key: string, multi: boolean) => {
    const next = new Set(multi ? props.selected : []);
    if (props.selected.has(key) && (multi || props.selected.size === 1)) next.delete(key);
    else next.add(key);
    props.setSelected(next);
  };
  return (
    <div className="table-wrap">
      <table className="table" data-testid="nodes-table">
        <thead>
          <tr>
            <th className="check-col">
              <input type="checkbox" aria-label={t("Select all")} checked={all} onChange={() => props.setSelected(all ? new Set() : new Set(props.rows.map((r) => r.key)))} />
            </th>
            <th>{t("Status")}</th>
            <th>{t("Direction")}</th>
            <th>{t("Node")}</th>
            <th>{t("Traffic")}</th>
          </tr>
        </thead>
        <tbody>
          {visible.map((r) => {
            const n = r.node;
            const href = remoteHref(r);
            return (
              <tr
                key={r.key}
                data-key={r.key}
                data-testid={`node-row-${r.key}`}
                className={[props.selected.has(r.key) ? "selected" : "", n.disabled ? "faded" : "", r.kind === "self" ? "self-row" : ""].join(" ")}
                onClick={(e) => {
                  if ((e.target as HTMLElement).closest("a,button,input")) return;
                  toggle(r.key, false);
                }}
              >
                <td className="check-col">
                  <input type="checkbox" aria-label={t("Select {name}", { name: n.name })} checked={props.selected.has(r.key)} onChange={() => toggle(r.key, true)} />
                </td>
                <td>
                  <StatusCell row={r} />
                </td>
                <td>
                  <Badge tone={r.kind === "self" ? "info" : r.kind === "inbound" ? "good" : "muted"}>
                    {r.kind === "self" ? t("LOCAL") : n.direction === "inbound" ? t("IN") : t("OUT")}
                  </Badge>
                </td>
                <td>
                  <div className="tree-cell" style={{ paddingLeft: `${Math.max(0, r.depth - 1) * 20 + (r.kind === "inbound" ? 20 : 0)}px` }}>
                    {hasKids(r.key) ? (
                      <button
                        className="chev"
                        aria-expanded={!collapsed.has(r.key)}
                        aria-label={collapsed.has(r.key) ? t("Expand {name}", { name: n.name }) : t("Collapse {name}", { name: n.name })}
                        onClick={() => {
                          const next = new Set(collapsed);
                          if (next.has(r.key)) next.delete(r.key);
                          else next.add(r.key);
                          setCollapsed(next);
                        }}
                      >
                        {collapsed.has(r.key) ? "▸" : "▾"}
                      </button>
                    ) : (
                      <span className="chev-space" />
                    )}
                    <div>
                      <div className="node-name">
                        {href ? (
                          <a href={href} target="_blank" rel="noreferrer" title={t("Open this node's UI through the relay")}>
                            {n.name}
                          </a>
                        ) : (
                          <strong>{n.name}</strong>
                        )}
                        {n.native && <Badge tone="warn">{t("native")}</Badge>}
                        {n.nested && <Badge tone="info">{t("nested")}</Badge>}
                        {n.version && r.kind !== "self" && n.version !== props.version && <Badge title={t("Version differs from this node")}>{n.version}</Badge>}
                        {(n.addrs?.length ?? 0) > 1 && <Badge title={n.addrs?.join("\n")}>+{(n.addrs?.length ?? 1) - 1}</Badge>}
                      </div>
                      <div className="sub mono">{r.kind === "child" ? t("via {parent}", { parent: r.parentKey ?? "" }) : n.addr ?? ""}</div>
                    </div>
                  </div>
                </td>
                <td className="nowrap">
                  <span className="up">↑ {rate(n.tx_rate)}</span>
                  <br />
                  <span className="down">↓ {rate(n.rx_rate)}</span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function NodesPage() {
  const t = useT();
  const { topology, node } = useShared();
  const [view, setView] = useLocal<"graph" | "list">("scale:nodes-view", "graph");
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [modal, setModal] = useState<null | { kind: "add" | "edit" | "import" | "self" | "share"; name?: string }>(null);
  const rows = useMemo(() => flatten(topology.data ?? []), [topology.data]);
  const byKey = useMemo(() => new Map(rows.map((r) => [r.key, r])), [rows]);

  useEffect(() => {
    // Drop selections whose rows disappeared on the last poll.
    const kept = [...selected].filter((k) => byKey.has(k));
    if (kept.length !== selected.size) setSelected(new Set(kept));
  }, [byKey, selected]);

  const sel = [...selected].map((k) => byKey.get(k)).filter((r): r is TopoRow => !!r);
  const peers = sel.filter((r) => r.kind !== "self");
  const single = sel.length === 1 ? sel[0] : null;
  const refresh = () => void topology.reload();

  // A configured peer may announce a different name than its client entry; the address ties them.
  const clientName = async (r: TopoRow): Promise<string> => {
    if (r.kind !== "root") return r.node.name;
    const list = await get<Client[]>("/clients");
    const hit = list.find((c) => c.name === r.node.name) ?? list.find((c) => !!r.node.addr && (c.addr === r.node.addr || c.addrs?.includes(r.node.addr)));
    return hit?.name ?? r.node.name;
  };

  const setDisabled = async (disabled: boolean) => {
    try {
      for (const r of peers) {
        if (r.kind === "root" || r.kind === "inbound") await put(`/clients/${seg(await clientName(r))}/disable`, { disabled });
        else await put(`/peers/${seg(r.path)}/disable`, { disabled });
      }
      toast(disabled ? t("Disabled") : t("Enabled"));
      refresh();
    } catch (e) {
      toastError(e);
    }
  };
  const setNested = async (enabled: boolean) => {
    try {
      for (const r of peers.filter((x) => x.kind !== "inbound" && !x.node.native)) await put(`/peers/${seg(r.path)}/nested`, { enabled });
      toast(enabled ? t("Nested discovery on") : t("Nested discovery off"));
      refresh();
    } catch (e) {
      toastError(e);
    }
  };
  const remove = async () => {
    const roots = peers.filter((r) => r.kind === "root");
    if (!roots.length) return;
    const ok = await confirm({
      title: t("Delete peers"),
      message: t("Delete {names}? The node stops connecting to them.", { names: roots.map((r) => r.node.name).join(", ") }),
      danger: true,
      confirmText: t("Delete"),
    });
    if (!ok) return;
    try {
      for (const r of roots) await del(`/clients/${seg(await clientName(r))}`);
      toast(t("Deleted"));
      setSelected(new Set());
      refresh();
    } catch (e) {
      toastError(e);
    }
  };

  const anyDisabled = peers.some((r) => r.node.disabled);
  const anyEnabled = peers.some((r) => !r.node.disabled);
  const nestable = peers.filter((r) => r.kind !== "inbound" && !r.node.native);
  const actions = (
    <>
      {selected.size > 0 && (
        <span className="chip">
          {t("{n} selected", { n: selected.size })}
          <button className="icon-btn small" aria-label={t("Clear selection")} onClick={() => setSelected(new Set())}>
            ×
          </button>
        </span>
      )}
      {anyDisabled && <button onClick={() => void setDisabled(false)}>{t("Enable")}</button>}
      {anyEnabled && <button onClick={() => void setDisabled(true)}>{t("Disable")}</button>}
      {nestable.some((r) => !r.node.nested) && <button onClick={() => void setNested(true)}>{t("Nested on")}</button>}
      {nestable.some((r) => r.node.nested) && <button onClick={() => void setNested(false)}>{t("Nested off")}</button>}
      {peers.some((r) => r.kind === "root") && (
        <button className="danger" onClick={() => void remove()}>
          {t("Delete")}
        </button>
      )}
      {single?.kind === "root" && (
        <button className="success" data-testid="edit-selected-btn" onClick={() => void clientName(single).then((name) => setModal({ kind: "edit", name }), toastError)}>
          {t("Edit")}
        </button>
      )}
      {single?.kind === "self" && (
        <button className="success" data-testid="edit-selected-btn" onClick={() => setModal({ kind: "self" })}>
          {t("Edit")}
        </button>
      )}
      <button onClick={() => setModal({ kind: "self" })} data-testid="edit-self-btn">
        {t("Edit this node")}
      </button>
      <button onClick={() => setModal({ kind: "share" })} data-testid="export-self-btn">
        {t("Share")}
      </button>
      <button onClick={() => setModal({ kind: "import" })} data-testid="import-url-btn">
        {t("Import URL")}
      </button>
      <button className="primary" onClick={() => setModal({ kind: "add" })} data-testid="add-node-btn">
        + {t("Add peer")}
      </button>
    </>
  );

  return (
    <div className="stack">
      <StatsRow />
      <Card
        testid="topology-card"
        title={
          <>
            {t("Network topology")}
            <span className="seg" role="group" aria-label={t("View")}>
              <button aria-pressed={view === "graph"} className={view === "graph" ? "on" : ""} onClick={() => setView("graph")} data-testid="view-graph">
                {t("Graph")}
              </button>
              <button aria-pressed={view === "list"} className={view === "list" ? "on" : ""} onClick={() => setView("list")} data-testid="view-list">
                {t("List")}
              </button>
            </span>
          </>
        }
        count={Math.max(0, rows.length - 1)}
        actions={actions}
        flush
      >
        {topology.loading && !topology.data ? (
          <Loading />
        ) : topology.error && !topology.data ? (
          <Empty>{topology.error}</Empty>
        ) : view === "graph" ? (
          <Graph rows={rows} selected={selected} onSelect={setSelected} />
        ) : rows.length <= 1 ? (
          <>
            <TreeTable rows={rows} selected={selected} setSelected={setSelected} version={node.data?.version} />
            <Empty>{t("No peers yet. Add one with + Add peer or import a hysteria2:// URL.")}</Empty>
          </>
        ) : (
          <TreeTable rows={rows} selected={selected} setSelected={setSelected} version={node.data?.version} />
        )}
      </Card>
      {modal?.kind === "add" && <PeerModal onClose={() => setModal(null)} onSaved={refresh} />}
      {modal?.kind === "edit" && <PeerModal editName={modal.name} onClose={() => setModal(null)} onSaved={refresh} />}
      {modal?.kind === "import" && <ImportUrlModal onClose={() => setModal(null)} onSaved={refresh} />}
      {modal?.kind === "self" && node.data && <SelfModal onClose={() => setModal(null)} />}
      {modal?.kind === "share" && node.data && <ShareSelfModal onClose={() => setModal(null)} />}
    </div>
  );
}

export { SELF_KEY };
