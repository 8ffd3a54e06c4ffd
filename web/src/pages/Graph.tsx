// Topology graph in plain SVG: auto layout, drag with positions shared via the server (SSE), pan/zoom/fit.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { apiUrl, auth, get, put } from "../api";
import { latencyTone, rate } from "../format";
import { useLocal } from "../hooks";
import { useT } from "../i18n";
import { confirm, toastError } from "../ui";
import { SELF_KEY, segmentLatency, type TopoRow } from "./topoRows";

type Pos = { x: number; y: number };
type Layout = Record<string, Pos>;
const R = 11;
const GRID = 24;

function autoLayout(rows: TopoRow[]): Layout {
  const parentOf = (r: TopoRow) => r.parentKey ?? (r.kind === "self" ? null : SELF_KEY);
  const kids = new Map<string, TopoRow[]>();
  for (const r of rows) {
    const p = parentOf(r);
    if (p) kids.set(p, [...(kids.get(p) ?? []), r]);
  }
  // Leaves get consecutive slots; a parent sits over the middle of its subtree.
  const out: Layout = {};
  let slot = 0;
  const place = (r: TopoRow, depth: number): number => {
    const children = kids.get(r.key) ?? [];
    let x: number;
    if (!children.length) x = slot++ * 85;
    else {
      const xs = children.map((c) => place(c, depth + 1));
      x = (Math.min(...xs) + Math.max(...xs)) / 2;
    }
    out[r.key] = { x, y: depth * 130 };
    return x;
  };
  const self = rows.find((r) => r.kind === "self");
  if (self) place(self, 0);
  return out;
}

function parseLayout(data: unknown): Layout {
  const obj = (data && typeof data === "object" && "positions" in data ? (data as { positions: unknown }).positions : data) as Record<string, unknown> | null;
  const out: Layout = {};
  for (const [k, v] of Object.entries(obj ?? {})) {
    const p = v as Partial<Pos>;
    if (typeof p?.x === "number" && typeof p?.y === "number") out[k] = { x: p.x, y: p.y };
  }
  return out;
}

export function Graph(props: { rows: TopoRow[]; selected: Set<string>; onSelect: (s: Set<string>) => void }) {
  const t = useT();
  const [saved, setSaved] = useState<Layout | null>(null);
  const [drag, setDrag] = useState<{ key: string; pos: Pos } | null>(null);
  const [view, setView] = useState({ x: 0, y: 0, k: 1 });
  const [snap, setSnap] = useLocal("scale:topology-graph-snap", false);
  const svgRef = useRef<SVGSVGElement>(null);
  const savedRef = useRef<Layout>({});
  const fitted = useRef(false);

  // The layout stream sends the full map on connect and after every change from any session.
  useEffect(() => {
    const token = auth.token() ?? "";
    const es = new EventSource(`${apiUrl("/graph-layout/stream")}?token=${encodeURIComponent(token)}`);
    es.onmessage = (ev) => {
      try {
        const next = parseLayout(JSON.parse(ev.data));
        savedRef.current = next;
        setSaved(next);
      } catch {
        /* keep the current layout on a malformed frame */
      }
    };
    const fallback = window.setTimeout(() => {
      if (savedRef.current && Object.keys(savedRef.current).length) return;
      void get<unknown>("/graph-layout").then(
        (d) => {
          savedRef.current = parseLayout(d);
          setSaved(savedRef.current);
        },
        () => setSaved({}),
      );
    }, 800);
    return () => {
      window.clearTimeout(fallback);
      es.close();
    };
  }, []);

  const auto = useMemo(() => autoLayout(props.rows), [props.rows]);
  const pos = useCallback(
    (key: string): Pos => (drag?.key === key ? drag.pos : saved?.[key] ?? auto[key] ?? { x: 0, y: 0 }),
    [drag, saved, auto],
  );
  const byKey = useMemo(() => new Map(props.rows.map((r) => [r.key, r])), [props.rows]);

  const fit = useCallback(() => {
    const el = svgRef.current;
    if (!el || !props.rows.length) return;
    const pts = props.rows.map((r) => pos(r.key));
    const minX = Math.min(...pts.map((p) => p.x)) - 60;
    const maxX = Math.max(...pts.map((p) => p.x)) + 60;
    const minY = Math.min(...pts.map((p) => p.y)) - 40;
    const maxY = Math.max(...pts.map((p) => p.y)) + 60;
    const w = el.clientWidth || 600;
    const h = el.clientHeight || 400;
    const k = Math.min(1.2, w / (maxX - minX), h / (maxY - minY));
    setView({ k, x: (w - (maxX + minX) * k) / 2, y: (h - (maxY + minY) * k) / 2 });
  }, [props.rows, pos]);

  useEffect(() => {
    if (!fitted.current && saved !== null && props.rows.length) {
      fitted.current = true;
      fit();
    }
  }, [saved, props.rows, fit]);

  const toWorld = (clientX: number, clientY: number): Pos => {
    const rect = svgRef.current?.getBoundingClientRect();
    return { x: (clientX - (rect?.left ?? 0) - view.x) / view.k, y: (clientY - (rect?.top ?? 0) - view.y) / view.k };
  };

  const persist = async (key: string, p: Pos) => {
    const full: Layout = {};
    for (const r of props.rows) full[r.key] = pos(r.key);
    full[key] = p;
    savedRef.current = full;
    setSaved(full);
    try {
      await put("/graph-layout", { positions: full });
    } catch (e) {
      toastError(e);
    }
  };

  const onNodeDown = (e: React.PointerEvent, key: string) => {
    e.stopPropagation();
    (e.target as Element).setPointerCapture?.(e.pointerId);
    const start = toWorld(e.clientX, e.clientY);
    const origin = pos(key);
    let moved = false;
    let last = origin;
    const move = (ev: PointerEvent) => {
      const w = toWorld(ev.clientX, ev.clientY);
      if (!moved && Math.hypot(w.x - start.x, w.y - start.y) * view.k < 4) return;
      moved = true;
      last = { x: origin.x + w.x - start.x, y: origin.y + w.y - start.y };
      setDrag({ key, pos: last });
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      if (!moved) {
        const single = props.selected.size === 1 && props.selected.has(key);
        props.onSelect(single ? new Set() : new Set([key]));
        return;
      }
      const final = snap ? { x: Math.round(last.x / GRID) * GRID, y: Math.round(last.y / GRID) * GRID } : last;
      setDrag(null);
      void persist(key, final);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  };

  // Keyboard: Enter/Space selects, arrow keys move the node (Shift for bigger steps).
  const onNodeKey = (e: React.KeyboardEvent, key: string) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      props.onSelect(props.selected.size === 1 && props.selected.has(key) ? new Set() : new Set([key]));
      return;
    }
    const step = e.shiftKey ? GRID * 2 : GRID / 2;
    const delta: Record<string, Pos> = { ArrowLeft: { x: -step, y: 0 }, ArrowRight: { x: step, y: 0 }, ArrowUp: { x: 0, y: -step }, ArrowDown: { x: 0, y: step } };
    const d = delta[e.key];
    if (!d) return;
    e.preventDefault();
    const p = pos(key);
    void persist(key, { x: p.x + d.x, y: p.y + d.y });
  };

  // Background: one pointer pans, two pointers (touch) pinch-zoom around their midpoint.
  const pointers = useRef(new Map<number, { x: number; y: number }>());
  const onBgDown = (e: React.PointerEvent) => {
    const active = pointers.current;
    active.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (active.size > 2) return;
    const rect = svgRef.current?.getBoundingClientRect();
    const origin = view;
    const start = [...active.values()].map((p) => ({ ...p }));
    const startDist = start.length === 2 ? Math.hypot(start[0].x - start[1].x, start[0].y - start[1].y) || 1 : 0;
    let moved = false;
    const move = (ev: PointerEvent) => {
      if (!active.has(ev.pointerId)) return;
      active.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
      const now = [...active.values()];
      if (startDist && now.length === 2) {
        moved = true;
        const k = Math.min(3, Math.max(0.3, (origin.k * Math.hypot(now[0].x - now[1].x, now[0].y - now[1].y)) / startDist));
        const cx = (start[0].x + start[1].x) / 2 - (rect?.left ?? 0);
        const cy = (start[0].y + start[1].y) / 2 - (rect?.top ?? 0);
        const mx = (now[0].x + now[1].x) / 2 - (rect?.left ?? 0);
        const my = (now[0].y + now[1].y) / 2 - (rect?.top ?? 0);
        setView({ k, x: mx - ((cx - origin.x) * k) / origin.k, y: my - ((cy - origin.y) * k) / origin.k });
      } else if (!startDist && active.size === 1) {
        if (Math.abs(ev.clientX - start[0].x) + Math.abs(ev.clientY - start[0].y) > 3) moved = true;
        setView({ ...origin, x: origin.x + ev.clientX - start[0].x, y: origin.y + ev.clientY - start[0].y });
      }
    };
    const up = (ev: PointerEvent) => {
      if (ev.pointerId !== e.pointerId) return;
      active.delete(ev.pointerId);
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      window.removeEventListener("pointercancel", up);
      if (!moved && !startDist && props.selected.size === 1) props.onSelect(new Set());
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
    window.addEventListener("pointercancel", up);
  };

  useEffect(() => {
    const el = svgRef.current;
    if (!el) return;
    const wheel = (e: WheelEvent) => {
      e.preventDefault();
      const rect = el.getBoundingClientRect();
      setView((v) => {
        const k = Math.min(3, Math.max(0.3, v.k * Math.exp(-e.deltaY * 0.0015)));
        const cx = e.clientX - rect.left;
        const cy = e.clientY - rect.top;
        return { k, x: cx - ((cx - v.x) * k) / v.k, y: cy - ((cy - v.y) * k) / v.k };
      });
    };
    el.addEventListener("wheel", wheel, { passive: false });
    return () => el.removeEventListener("wheel", wheel);
  }, []);

  const zoomBy = (f: number) => {
    const el = svgRef.current;
    const cx = (el?.clientWidth ?? 600) / 2;
    const cy = (el?.clientHeight ?? 400) / 2;
    setView((v) => {
      const k = Math.min(3, Math.max(0.3, v.k * f));
      return { k, x: cx - ((cx - v.x) * k) / v.k, y: cy - ((cy - v.y) * k) / v.k };
    });
  };

  const resetLayout = async () => {
    const ok = await confirm({ title: t("Reset layout"), message: t("Forget the saved positions for every viewer?"), danger: true, confirmText: t("Reset") });
    if (!ok) return;
    try {
      await put("/graph-layout", { positions: {} });
      savedRef.current = {};
      setSaved({});
      fitted.current = false;
    } catch (e) {
      toastError(e);
    }
  };

  // The selected node's path back to self is highlighted.
  const pathKeys = new Set<string>();
  for (const key of props.selected) {
    let r = byKey.get(key);
    while (r) {
      pathKeys.add(r.key);
      r = r.parentKey ? byKey.get(r.parentKey) : r.kind === "self" ? undefined : byKey.get(SELF_KEY);
    }
  }
  const edges = props.rows
    .filter((r) => r.kind !== "self")
    .map((r) => {
      const parent = r.parentKey ?? SELF_KEY;
      // Edges point from the dialer to the dialee.
      const [from, to] = r.kind === "inbound" ? [r.key, parent] : [parent, r.key];
      return { r, from, to };
    });
  const selectedRow = props.selected.size === 1 ? byKey.get([...props.selected][0]) : undefined;
  const pathRows: TopoRow[] = [];
  for (let r = selectedRow; r; r = r.parentKey ? byKey.get(r.parentKey) : undefined) pathRows.unshift(r);
  const maxRate = Math.max(1, ...props.rows.map((r) => r.node.max_rate || (r.node.tx_rate ?? 0) + (r.node.rx_rate ?? 0)));

  return (
    <div className="graph" data-testid="graph">
      <div className="graph-toolbar">
        <button onClick={fit} data-testid="graph-fit">
          {t("Fit")}
        </button>
        <button onClick={() => zoomBy(1.25)} aria-label={t("Zoom in")}>
          +
        </button>
        <button onClick={() => zoomBy(0.8)} aria-label={t("Zoom out")}>
          −
        </button>
        <button onClick={() => void resetLayout()}>{t("Reset layout")}</button>
        <label className="check">
          <input type="checkbox" checked={snap} onChange={(e) => setSnap(e.target.checked)} />
          {t("Snap to grid")}
        </label>
        <span className="hint hide-mobile">{t("Drag nodes (or focus one and use the arrow keys) to arrange; drag the background to pan; scroll to zoom.")}</span>
      </div>
      <svg
        ref={svgRef}
        className="graph-svg"
        role="group"
        aria-label={t("Network topology graph")}
        style={{ opacity: saved === null ? 0 : 1 }}
        onPointerDown={onBgDown}
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" className="arrow-head" />
          </marker>
        </defs>
        <g transform={`translate(${view.x},${view.y}) scale(${view.k})`}>
          {edges.map(({ r, from, to }) => {
            const a = pos(from);
            const b = pos(to);
            const dx = b.x - a.x;
            const dy = b.y - a.y;
            const len = Math.hypot(dx, dy) || 1;
            const ux = dx / len;
            const uy = dy / len;
            const x1 = a.x + ux * (R + 3);
            const y1 = a.y + uy * (R + 3);
            const x2 = b.x - ux * (R + 5);
            const y2 = b.y - uy * (R + 5);
            const tx = r.node.tx_rate ?? 0;
            const rx = r.node.rx_rate ?? 0;
            const flow = tx + rx;
            const width = 1.5 + 5.5 * Math.min(1, flow / maxRate);
            const offline = !r.online;
            const lat = segmentLatency(r, byKey);
            const mx = (x1 + x2) / 2;
            const my = (y1 + y2) / 2;
            const speed = flow > 0 ? Math.max(0.4, 3 - Math.log10(flow + 1) / 3) : 0;
            return (
              <g key={`e-${r.key}`} className={`edge${offline ? " offline" : ""}${r.node.native ? " native" : ""}${pathKeys.has(r.key) ? " on-path" : ""}`} data-edge={r.key}>
                <line x1={x1} y1={y1} x2={x2} y2={y2} strokeWidth={width} markerEnd="url(#arrow)" />
                {!offline && flow > 0 && <line className="flow" x1={x1} y1={y1} x2={x2} y2={y2} strokeWidth={Math.max(1.5, width - 1)} style={{ animationDuration: `${speed}s` }} />}
                {offline ? (
                  <text x={mx} y={my + 4} className="edge-x" textAnchor="middle">
                    ✕
                  </text>
                ) : (
                  len * view.k > 70 && (
                    <text x={mx + uy * 10} y={my - ux * 10} className="edge-label" textAnchor="middle">
                      {lat !== undefined && lat >= 0 && <tspan className={`tone-${latencyTone(lat)}`}>{lat} ms </tspan>}
                      {flow > 0 && <tspan>{tx >= rx ? `↑${rate(tx)}` : `↓${rate(rx)}`}</tspan>}
                    </text>
                  )
                )}
              </g>
            );
          })}
          {props.rows.map((r) => {
            const p = pos(r.key);
            const degree = edges.filter((e) => e.from === r.key || e.to === r.key).length;
            const cls = [
              "gnode",
              r.kind === "self" ? "self" : "",
              r.node.native ? "native" : "",
              !r.online ? "offline" : "",
              r.node.disabled ? "disabled" : "",
              props.selected.has(r.key) ? "selected" : "",
            ].join(" ");
            const badge = r.node.incompatible ? t("incompatible") : r.node.unsupported ? t("unsupported") : r.node.conflict ? t("conflict") : r.node.native ? t("native") : "";
            return (
              <g
                key={r.key}
                className={cls}
                transform={`translate(${p.x},${p.y})`}
                data-node-key={r.key}
                role="button"
                tabIndex={0}
                aria-pressed={props.selected.has(r.key)}
                aria-label={`${r.node.name}${r.online ? "" : ` (${t("offline")})`}`}
                onPointerDown={(e) => onNodeDown(e, r.key)}
                onKeyDown={(e) => onNodeKey(e, r.key)}
              >
                <title>{r.key === SELF_KEY ? r.node.name : r.path}</title>
                {(r.kind === "self" || degree >= 3) && <circle r={R + 4} className="ring" />}
                <circle r={R} className="dot" />
                {!r.online && r.kind !== "self" && (
                  <text y={4} className="node-x" textAnchor="middle">
                    ✕
                  </text>
                )}
                <text y={R + 16} className="node-label" textAnchor="middle">
                  {r.node.name}
                </text>
                {badge && (
                  <text y={R + 29} className="node-badge" textAnchor="middle">
                    {badge}
                  </text>
                )}
              </g>
            );
          })}
        </g>
      </svg>
      {selectedRow && selectedRow.kind !== "self" && (
        <div className="path-overlay" data-testid="graph-path" aria-live="polite">
          <span className="muted">{t("Selected path")}</span>{" "}
          {[byKey.get(SELF_KEY), ...pathRows.filter((r) => r.kind !== "inbound")].filter(Boolean).map((r, i) => (
            <span key={r?.key}>
              {i > 0 && <span className="muted"> → </span>}
              <span className={r?.online ? "tone-good" : "tone-bad"}>{r?.node.name}</span>
            </span>
          ))}
          {selectedRow.kind === "inbound" && <span className="muted"> ← {selectedRow.node.name}</span>}
          {selectedRow.online && (selectedRow.node.latency_ms ?? -1) >= 0 && <strong> · {selectedRow.node.latency_ms} ms</strong>}
        </div>
      )}
    </div>
  );
}
