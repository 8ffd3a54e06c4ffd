import { del, seg } from "../api";
import { bytes, duration } from "../format";
import { usePoll } from "../hooks";
import { useT } from "../i18n";
import type { Device } from "../types";
import { Badge, Card, ListState, toast, toastError } from "../ui";

export function SessionsPage() {
  const t = useT();
  const sessions = usePoll<{ devices: Device[]; total: number }>("/sessions", 3000);
  const devices = sessions.data?.devices ?? [];
  const kick = async (d: Device) => {
    try {
      await del(`/sessions/${seg(d.key)}`);
      toast(t("{user} disconnected; reconnects are refused for 60 s", { user: d.username }));
      void sessions.reload();
    } catch (e) {
      toastError(e);
    }
  };
  return (
    <Card title={t("Active devices")} count={sessions.data?.total ?? devices.length} testid="sessions-card" flush>
      <ListState res={sessions} empty={!devices.length && t("No active connections.")}>
        <div className="table-wrap">
          <table className="table" data-testid="sessions-table">
            <thead>
              <tr>
                <th>{t("User")}</th>
                <th>{t("Address")}</th>
                <th>{t("Protocol")}</th>
                <th>{t("Connections")}</th>
                <th>{t("Traffic")}</th>
                <th>{t("Duration")}</th>
                <th>
                  <span className="sr-only">{t("Actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {devices.map((d) => (
                <tr key={d.key}>
                  <td>
                    <strong>{d.username}</strong>
                  </td>
                  <td className="mono">{d.remote_ip}</td>
                  <td>
                    <Badge tone="info">{d.protocol}</Badge>
                  </td>
                  <td>{d.conn_count}</td>
                  <td className="nowrap">
                    <span className="up">↑ {bytes(d.tx_bytes)}</span> <span className="down">↓ {bytes(d.rx_bytes)}</span>
                  </td>
                  <td>{duration(d.duration)}</td>
                  <td>
                    <button className="danger small-btn" onClick={() => void kick(d)} aria-label={t("Kick {user} at {ip}", { user: d.username, ip: d.remote_ip })}>
                      {t("Kick")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </ListState>
    </Card>
  );
}
