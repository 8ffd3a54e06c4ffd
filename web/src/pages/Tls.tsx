import { useState } from "react";
import { del, get, post, saveBlob, seg } from "../api";
import { today } from "../format";
import { useAction, usePoll } from "../hooks";
import { useT } from "../i18n";
import type { Cert } from "../types";
import { Badge, Card, ErrorText, ListState, Modal, NumberField, SelectField, Tabs, TextField, Toggle, confirm, toast, toastError } from "../ui";

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function NewCertModal(props: { certs: Cert[]; onClose: () => void; onSaved: () => void }) {
  const t = useT();
  const cas = props.certs.filter((c) => c.is_ca && c.key_file);
  const [mode, setMode] = useState("generate");
  const [id, setId] = useState("");
  const [name, setName] = useState("");
  const [domains, setDomains] = useState("");
  const [isCa, setIsCa] = useState(false);
  const [days, setDays] = useState(3650);
  const [caId, setCaId] = useState(cas[0]?.id ?? "");
  const [cn, setCn] = useState("");
  const [cert, setCert] = useState("");
  const [key, setKey] = useState("");
  const [certPath, setCertPath] = useState("");
  const [keyPath, setKeyPath] = useState("");
  const action = useAction();
  const idError = id && !ID_RE.test(id) ? t("Letters, digits, '.', '_' and '-' only") : undefined;
  const save = () =>
    action.run(async () => {
      if (!id || idError) throw new Error(idError ?? t("ID is required"));
      if (mode === "generate") {
        const list = domains.split(/[\s,]+/).filter(Boolean);
        await post("/tls/generate", { id, name: name || id, domains: list.length ? list : [id], days, is_ca: isCa });
      } else if (mode === "sign") {
        if (!caId) throw new Error(t("Create a CA first"));
        if (!cn) throw new Error(t("Common name is required"));
        await post("/tls/sign", { ca_id: caId, id, name: name || cn, cn, days });
      } else if (mode === "import") {
        if (!cert.includes("BEGIN CERTIFICATE")) throw new Error(t("Paste a PEM certificate"));
        await post("/tls/import", { id, name: name || id, cert, key });
      } else {
        if (!certPath) throw new Error(t("Certificate path is required"));
        await post("/tls/import-path", { id, name: name || id, cert_path: certPath, key_path: keyPath });
      }
      toast(t("Certificate saved"));
      props.onSaved();
      props.onClose();
    });
  const loadFile = (set: (s: string) => void) => (e: React.ChangeEvent<HTMLInputElement>) => {
    const f = e.target.files?.[0];
    if (f && f.size <= 65536) void f.text().then(set);
    else if (f) toast(t("File is larger than 64 KB"), "error");
  };
  return (
    <Modal
      title={t("New certificate")}
      onClose={props.onClose}
      wide
      testid="cert-modal"
      footer={
        <>
          <button onClick={props.onClose}>{t("Cancel")}</button>
          <button className="primary" onClick={save} disabled={action.busy} data-testid="cert-save">
            {mode === "generate" ? t("Generate") : mode === "sign" ? t("Sign") : t("Import")}
          </button>
        </>
      }
    >
      <Tabs
        label={t("How to create the certificate")}
        tabs={[
          { id: "generate", label: t("Self-signed") },
          { id: "sign", label: t("Sign with CA"), disabled: !cas.length },
          { id: "import", label: t("Paste PEM") },
          { id: "path", label: t("File path") },
        ]}
        active={mode}
        onChange={setMode}
      />
      <div className="grid2">
        <TextField label={t("ID")} value={id} onChange={setId} required error={idError} testid="cert-id" />
        <TextField label={t("Display name")} value={name} onChange={setName} />
      </div>
      {mode === "generate" && (
        <>
          <TextField label={t("Domains / IPs")} value={domains} onChange={setDomains} hint={t("Comma separated; defaults to the ID")} testid="cert-domains" />
          <Toggle label={t("Certificate authority (can sign other certificates)")} checked={isCa} onChange={setIsCa} testid="cert-is-ca" />
          <NumberField label={t("Valid for (days)")} value={days} min={1} onChange={setDays} />
        </>
      )}
      {mode === "sign" && (
        <>
          <SelectField label={t("CA")} value={caId} onChange={setCaId} options={cas.map((c) => ({ value: c.id, label: c.name || c.id }))} testid="cert-ca" />
          <TextField label={t("Common name")} value={cn} onChange={setCn} required testid="cert-cn" />
          <NumberField label={t("Valid for (days)")} value={days} min={1} onChange={setDays} />
        </>
      )}
      {mode === "import" && (
        <>
          <div className="field">
            <label htmlFor="pem-cert">{t("Certificate (PEM)")} *</label>
            <textarea id="pem-cert" rows={5} className="mono" value={cert} onChange={(e) => setCert(e.target.value)} />
            <input type="file" accept=".pem,.crt,.cer,.txt" aria-label={t("Load certificate file")} onChange={loadFile(setCert)} />
          </div>
          <div className="field">
            <label htmlFor="pem-key">{t("Private key (PEM)")}</label>
            <textarea id="pem-key" rows={4} className="mono" value={key} onChange={(e) => setKey(e.target.value)} />
            <input type="file" accept=".pem,.key,.txt" aria-label={t("Load key file")} onChange={loadFile(setKey)} />
          </div>
        </>
      )}
      {mode === "path" && (
        <>
          <TextField label={t("Certificate path on the server")} value={certPath} onChange={setCertPath} mono required />
          <TextField label={t("Key path on the server")} value={keyPath} onChange={setKeyPath} mono />
        </>
      )}
      <ErrorText error={action.error} />
    </Modal>
  );
}

export function TlsPage() {
  const t = useT();
  const certs = usePoll<Cert[]>("/tls", 0);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [modal, setModal] = useState(false);
  const list = certs.data ?? [];
  const sel = list.filter((c) => selected.has(c.id));
  const now = today();
  const downloadPem = async (c: Cert) => {
    try {
      const pem = await get<string | { cert: string }>(`/tls/${seg(c.id)}/pem`);
      saveBlob(new Blob([typeof pem === "string" ? pem : pem.cert], { type: "application/x-pem-file" }), `${c.id}.crt`);
    } catch (e) {
      toastError(e);
    }
  };
  const remove = async () => {
    if (!(await confirm({ title: t("Delete certificates"), message: t("Delete {names}?", { names: sel.map((c) => c.id).join(", ") }), danger: true, confirmText: t("Delete") }))) return;
    try {
      for (const c of sel) await del(`/tls/${seg(c.id)}`);
      toast(t("Deleted"));
      setSelected(new Set());
    } catch (e) {
      toastError(e);
    }
    await certs.reload();
  };
  return (
    <Card
      title={t("Certificates")}
      count={list.length}
      testid="tls-card"
      flush
      actions={
        <>
          {sel.length > 0 && (
            <button className="danger" onClick={() => void remove()} data-testid="cert-delete">
              {t("Delete")}
            </button>
          )}
          <button className="primary" onClick={() => setModal(true)} data-testid="add-cert-btn">
            + {t("New")}
          </button>
        </>
      }
    >
      <ListState res={certs} empty={!list.length && t("No certificates.")}>
        <div className="table-wrap">
          <table className="table" data-testid="tls-table">
            <thead>
              <tr>
                <th className="check-col">
                  <span className="sr-only">{t("Select")}</span>
                </th>
                <th>{t("Name")}</th>
                <th>{t("Subject")}</th>
                <th>{t("Issuer")}</th>
                <th>{t("Expires")}</th>
                <th>{t("Key")}</th>
                <th>
                  <span className="sr-only">{t("Download")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((c) => {
                const expired = c.not_after < now;
                return (
                  <tr key={c.id} data-testid={`cert-row-${c.id}`} className={[selected.has(c.id) ? "selected" : "", expired ? "faded" : ""].join(" ")}>
                    <td className="check-col">
                      <input
                        type="checkbox"
                        aria-label={t("Select {name}", { name: c.id })}
                        checked={selected.has(c.id)}
                        onChange={() => {
                          const next = new Set(selected);
                          if (next.has(c.id)) next.delete(c.id);
                          else next.add(c.id);
                          setSelected(next);
                        }}
                      />
                    </td>
                    <td>
                      <strong>{c.name || c.id}</strong> {c.is_ca && <Badge tone="info">CA</Badge>}
                      <div className="sub mono">{c.id}</div>
                    </td>
                    <td>{c.subject}</td>
                    <td>
                      {c.issuer}
                      {c.ca_parent_id && <div className="sub">{t("signed by {ca}", { ca: c.ca_parent_id })}</div>}
                    </td>
                    <td className={expired ? "tone-bad" : ""}>
                      {c.not_after} {expired && <Badge tone="bad">{t("expired")}</Badge>}
                    </td>
                    <td>{c.key_file ? t("yes") : t("no")}</td>
                    <td>
                      <button className="small-btn" onClick={() => void downloadPem(c)} aria-label={t("Download {id} PEM", { id: c.id })}>
                        PEM
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </ListState>
      {modal && <NewCertModal certs={list} onClose={() => setModal(false)} onSaved={() => void certs.reload()} />}
    </Card>
  );
}
