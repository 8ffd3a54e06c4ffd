const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];

export function bytes(n: number | undefined): string {
  let v = Math.max(0, n ?? 0);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${UNITS[i]}`;
}

export const rate = (n: number | undefined) => `${bytes(n)}/s`;

export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

export type Tone = "good" | "warn" | "bad" | "muted";

export function latencyTone(ms: number | undefined): Tone {
  if (ms === undefined || ms < 0) return "bad";
  if (ms < 80) return "good";
  if (ms < 200) return "warn";
  return "bad";
}

export const GB = 1024 ** 3;

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

export function randomPassword(len = 24): string {
  const chars = "abcdefghijklmnopqrstuvwxyz0123456789";
  const buf = new Uint32Array(len);
  crypto.getRandomValues(buf);
  return Array.from(buf, (x) => chars[x % chars.length]).join("");
}

export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-http origins have no clipboard API: fall back to a hidden textarea.
  const ta = document.createElement("textarea");
  ta.value = text;
  ta.style.position = "fixed";
  ta.style.opacity = "0";
  document.body.appendChild(ta);
  ta.select();
  document.execCommand("copy");
  ta.remove();
}
