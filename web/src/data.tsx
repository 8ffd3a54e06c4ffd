// Live data shared by every page: this node and the topology (feeds exit-path pickers and colours).
import { createContext, useContext, useMemo, type ReactNode } from "react";
import { usePoll, type Loaded } from "./hooks";
import type { NodeInfo, TopoNode } from "./types";

interface Shared {
  node: Loaded<NodeInfo>;
  topology: Loaded<TopoNode[]>;
  exitPaths: string[];
  reachable: Set<string>;
}

const Ctx = createContext<Shared | null>(null);

export function walkTopology(nodes: TopoNode[], visit: (n: TopoNode, path: string, depth: number, parent: string) => void): void {
  const rec = (list: TopoNode[], prefix: string, depth: number) => {
    for (const n of list) {
      const path = prefix ? `${prefix}/${n.name}` : n.name;
      visit(n, path, depth, prefix);
      if (n.children?.length) rec(n.children, path, depth + 1);
    }
  };
  rec(nodes.filter((n) => !n.is_self), "", 0);
}

// While the default password must be changed the server refuses everything else, so nothing is polled.
export function SharedData(props: { children: ReactNode; fast: boolean; enabled: boolean }) {
  const node = usePoll<NodeInfo>(props.enabled ? "/node" : null, 30_000);
  const topology = usePoll<TopoNode[]>(props.enabled ? "/topology" : null, props.fast ? 2_000 : 5_000);
  const value = useMemo(() => {
    const exitPaths: string[] = [];
    const reachable = new Set<string>();
    walkTopology(topology.data ?? [], (n, path) => {
      if (n.direction === "inbound") return;
      exitPaths.push(path);
      if (n.connected !== false && !n.disabled) reachable.add(path);
    });
    return { node, topology, exitPaths, reachable };
  }, [node, topology]);
  return <Ctx.Provider value={value}>{props.children}</Ctx.Provider>;
}

export function useShared(): Shared {
  const v = useContext(Ctx);
  if (!v) throw new Error("useShared outside SharedData");
  return v;
}
