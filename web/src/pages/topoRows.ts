// Flattens the topology into rows/graph nodes with stable keys shared by the list, graph and layout.
import type { TopoNode } from "../types";

export const SELF_KEY = "__self__";

export interface TopoRow {
  key: string;
  path: string; // qualified peer path for the API ("" for self)
  parentKey: string | null;
  node: TopoNode;
  depth: number;
  kind: "self" | "root" | "child" | "inbound";
  online: boolean;
}

export function isOnline(n: TopoNode, kind: TopoRow["kind"]): boolean {
  if (kind === "self") return true;
  if (n.disabled) return false;
  if (n.connected === false) return false;
  return kind === "inbound" || kind === "child" || (n.latency_ms ?? 0) >= 0;
}

export function flatten(topology: TopoNode[]): TopoRow[] {
  const rows: TopoRow[] = [];
  const self = topology.find((n) => n.is_self);
  if (self) {
    rows.push({ key: SELF_KEY, path: "", parentKey: null, node: self, depth: 0, kind: "self", online: true });
    for (const child of [...(self.children ?? [])].sort((a, b) => a.name.localeCompare(b.name))) {
      rows.push({ key: `${self.name}/${child.name}`, path: child.name, parentKey: SELF_KEY, node: child, depth: 1, kind: "inbound", online: isOnline(child, "inbound") });
    }
  }
  const rec = (n: TopoNode, path: string, parentKey: string | null, depth: number, kind: TopoRow["kind"], parentOnline: boolean) => {
    const online = parentOnline && isOnline(n, kind);
    rows.push({ key: path, path, parentKey, node: n, depth, kind, online });
    if (n.disabled) return;
    for (const c of [...(n.children ?? [])].sort((a, b) => a.name.localeCompare(b.name))) rec(c, `${path}/${c.name}`, path, depth + 1, "child", online);
  };
  for (const n of topology.filter((x) => !x.is_self).sort((a, b) => a.name.localeCompare(b.name))) rec(n, n.name, null, 1, "root", true);
  return rows;
}

/** Latency of the last hop: a child's latency is cumulative from self. */
export function segmentLatency(row: TopoRow, byKey: Map<string, TopoRow>): number | undefined {
  const ms = row.node.latency_ms;
  if (ms === undefined || ms < 0) return ms;
  const parent = row.parentKey ? byKey.get(row.parentKey) : undefined;
  if (row.kind === "child" && parent?.node.latency_ms !== undefined && parent.node.latency_ms >= 0) return Math.max(0, ms - parent.node.latency_ms);
  return ms;
}
