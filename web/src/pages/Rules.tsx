import { useState } from "react";
import { del, post, put, seg } from "../api";
import { useAction, usePoll } from "../hooks";
import { useT } from "../i18n";
import { setQuery, useRoute } from "../router";
import type { Rule } from "../types";
import { Badge, Banner, Card, ErrorText, ListState, Modal, NumberField, SelectField, Tabs, TextField, Toggle, confirm, toast, toastError } from "../ui";
import { ExitPathsEditor, ExitView, exitError, fromExit, toExit, type ExitValue } from "./ExitPaths";

const IP_RE = /^(\d{1,3}(\.\d{1,3}){3})(\/\d{1,2})?$|^\d{1,3}(\.\d{1,3}){3}-\d{1,3}(\.\d{1,3}){3}$|^[0-9a-fA-F:]+(\/\d{1,3})?$/;
const DOMAIN_RE = /^(\*\.)?([A-Za-z0-9-]+\.)*[A-Za-z0-9-]+$/;

function RuleModal(props: { type: "ip" | "domain"; rule?: Rule; onClose: () => void; onSaved: () => void }) {
  const t = useT();
  const r = props.rule;
  const [name, setName] = useState(r?.name ?? "");
  const [targets, setTargets] = useState((r?.targets ?? []).join("\n"));
  const [priority, setPriority] = useState(r?.priority ?? 0);
  const [useTun, setUseTun] = useState(!!r?.use_tun);
  const [enabled, setEnabled] = useState(r?.enabled ?? true);
  const [exit, setExit] = useState<ExitValue>(() => fromExit(r ?? {}));
  const action = useAction();
  const list = targets.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
  const bad = list.find((x) => !(props.type === "ip" ? IP_RE : DOMAIN_RE).test(x));
  const save = () =>
    action.run(async () => {
      if (!list.length) throw new Error(t("Add at least one target"));
      if (bad) throw new Error(t("Invalid target: {t}", { t: bad }));
      const err = exitError(exit, t);
      if (err) throw new Error(err);
      const e = toExit(useTun ? { paths: exit.paths.slice(0, 1), mode: "" } : exit);
      if (!e.exit_via) throw new Error(t("Choose an exit for the rule"));
      const body = { id: r?.id ?? `${props.type}-${Date.now().toString(36)}`, name, type: props.type, targets: list, priority, use_tun: props.type === "ip" && useTun, enabled, ...e };
      if (r) await put(`/rules/${seg(r.id)}`, body);
      else await post("/rules", body);
      toast(t("Rule saved"));
      props.onSaved();
      props.onClose();
    });
  return (
    <Modal
      title={r ? t("Edit rule") : props.type === "ip" ? t("New IP rule") : t("New domain rule")}
      onClose={props.onClose}
      wide
      testid="rule-modal"
      footer={
        <>
          <button onClick={props.onClose}>{t("Cancel")}</button>
          <button className="primary" onClick={save} disabled={action.busy} data-testid="rule-save">
            {t("Save")}
          </button>
        </>
      }
    >
      <TextField label={t("Name")} value={name} onChange={setName} testid="rule-name" />
      <div className={`field${bad ? " has-error" : ""}`}>
        <label htmlFor="rule-targets">{t("Targets")} *</label>
        <textarea id="rule-targets" rows={4} className="mono" value={targets} onChange={(e) => setTargets(e.target.value)} data-testid="rule-targets" placeholder={props.type === "ip" ? "10.0.0.0/8\n1.1.1.1\n192.168.1.10-192.168.1.20" : "example.com\n*.example.org"} />
        {bad ? <div className="field-error">{t("Invalid target: {t}", { t: bad })}</div> : <div className="hint">{t("One per line")}</div>}
      </div>
      <NumberField label={t("Priority (higher wins on overlap)")} value={priority} onChange={setPriority} />
      {props.type === "ip" && <Toggle label={t("Use TUN (keeps the source IP and ICMP)")} checked={useTun} onChange={setUseTun} />}
      <ExitPathsEditor value={exit} onChange={setExit} single={useTun} />
      <Toggle label={t("Enabled")} checked={enabled} onChange={setEnabled} />
      <ErrorText error={action.error} />
    </Modal>
  );
}

function TunMode() {
  const t = useT();
  const mode = usePoll<{ enabled: boolean; mode: string }>("/rules/tun-mode", 0);
  if (!mode.data) return null;
  const set = async (patch: Partial<{ enabled: boolean; mode: string }>) => {
    try {
      await put("/rules/tun-mode", { ...mode.data, ...patch });
      toast(t("Saved"));
      await mode.reload();
    } catch (e) {
      toastError(e);
    }
  };
  return (
    <div className="row tun-row">
      <Toggle label={t("TUN mode")} checked={mode.data.enabled} onChange={(v) => void set({ enabled: v })} testid="tun-mode" />
      <SelectField
        label={t("TUN scope")}
        value={mode.data.mode || "mixed"}
        onChange={(v) => void set({ mode: v })}
        options={[
          { value: "mixed", label: t("Mixed: rule targets via TUN") },
          { value: "full", label: t("Full: all traffic via TUN") },
        ]}
      />
    </div>
  );
}

export function RulesPage() {
  const t = useT();
  const route = useRoute();
  const type = route.query.get("tab") === "domain" ? "domain" : "ip";
  const rules = usePoll<{ available: boolean; rules: Rule[] }>("/rules", 5000);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [modal, setModal] = useState<null | { rule?: Rule }>(null);
  const list = (rules.data?.rules ?? []).filter((r) => r.type === type).sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || a.id.localeCompare(b.id));
  const sel = list.filter((r) => selected.has(r.id));
  const each = async (fn: (r: Rule) => Promise<unknown>, msg: string) => {
    try {
      for (const r of sel) await fn(r);
      toast(msg);
      await rules.reload();
    } catch (e) {
      toastError(e);
    }
  };
  return (
    <div className="stack">
      <Tabs
        label={t("Rule type")}
        tabs={[
          { id: "ip", label: t("IP rules") },
          { id: "domain", label: t("Domain rules") },
        ]}
        active={type}
        onChange={(id) => {
          setSelected(new Set());
          setQuery("tab", id);
        }}
      />
      {rules.data && !rules.data.available && <Banner tone="bad">{t("Routing rules need host networking with the NET_ADMIN capability; they are stored but not applied.")}</Banner>}
      <TunMode />
      <Card
        title={type === "ip" ? t("IP rules") : t("Domain rules")}
        count={list.length}
        testid="rules-card"
        flush
        actions={
          <>
            {sel.some((r) => !r.enabled) && <button onClick={() => void each((r) => put(`/rules/${seg(r.id)}/toggle`, { enabled: true }), t("Enabled"))}>{t("Enable")}</button>}
            {sel.some((r) => r.enabled) && <button onClick={() => void each((r) => put(`/rules/${seg(r.id)}/toggle`, { enabled: false }), t("Disabled"))}>{t("Disable")}</button>}
            {sel.length > 0 && (
              <button
                className="danger"
                onClick={async () => {
                  if (await confirm({ title: t("Delete rules"), message: t("Delete {n} rules?", { n: sel.length }), danger: true, confirmText: t("Delete") })) {
                    await each((r) => del(`/rules/${seg(r.id)}`), t("Deleted"));
                    setSelected(new Set());
                  }
                }}
              >
                {t("Delete")}
              </button>
            )}
            {sel.length === 1 && (
              <button className="success" onClick={() => setModal({ rule: sel[0] })}>
                {t("Edit")}
              </button>
            )}
            <button className="primary" onClick={() => setModal({})} data-testid="add-rule-btn">
              + {t("New rule")}
            </button>
          </>
        }
      >
        <ListState res={rules} empty={!list.length && t("No rules yet.")}>
          <div className="table-wrap">
            <table className="table" data-testid="rules-table">
              <thead>
                <tr>
                  <th className="check-col">
                    <span className="sr-only">{t("Select")}</span>
                  </th>
                  <th>{t("Name")}</th>
                  <th>{t("Targets")}</th>
                  <th>{t("Priority")}</th>
                  <th>{t("Exit via")}</th>
                </tr>
              </thead>
              <tbody>
                {list.map((r) => (
                  <tr key={r.id} className={[selected.has(r.id) ? "selected" : "", r.enabled ? "" : "faded"].join(" ")}>
                    <td className="check-col">
                      <input
                        type="checkbox"
                        aria-label={t("Select {name}", { name: r.name || r.id })}
                        checked={selected.has(r.id)}
                        onChange={() => {
                          const next = new Set(selected);
                          if (next.has(r.id)) next.delete(r.id);
                          else next.add(r.id);
                          setSelected(next);
                        }}
                      />
                    </td>
                    <td>
                      {r.name || <span className="muted">—</span>} {r.tun_active && <Badge tone="info">TUN</Badge>}
                      <div className="sub mono">{r.id}</div>
                    </td>
                    <td className="mono">
                      {r.targets.slice(0, 3).join(", ")}
                      {r.targets.length > 3 && <Badge title={r.targets.join("\n")}>+{r.targets.length - 3}</Badge>}
                    </td>
                    <td>{r.priority ?? 0}</td>
                    <td>
                      <ExitView e={r} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </ListState>
      </Card>
      {modal && <RuleModal type={type} rule={modal.rule} onClose={() => setModal(null)} onSaved={() => void rules.reload()} />}
    </div>
  );
}

