// English strings are the keys; zh and ko map them. A missing translation falls back to English.
import { useSyncExternalStore } from "react";
import { ko } from "./locales/ko";
import { zh } from "./locales/zh";

export type Lang = "en" | "zh" | "ko";
export const LANGS: { code: Lang; label: string }[] = [
  { code: "en", label: "English" },
  { code: "zh", label: "简体中文" },
  { code: "ko", label: "한국어" },
];
const DICTS: Record<Lang, Record<string, string>> = { en: {}, zh, ko };
const KEY = "hy2scale:lang";

function initial(): Lang {
  const saved = localStorage.getItem(KEY);
  if (saved === "en" || saved === "zh" || saved === "ko") return saved;
  const nav = navigator.language.toLowerCase();
  return nav.startsWith("zh") ? "zh" : nav.startsWith("ko") ? "ko" : "en";
}

let lang: Lang = initial();
document.documentElement.lang = lang;
const listeners = new Set<() => void>();

export function setLang(next: Lang): void {
  lang = next;
  localStorage.setItem(KEY, next);
  document.documentElement.lang = next;
  listeners.forEach((l) => l());
}

export function getLang(): Lang {
  return lang;
}

export function translate(key: string, vars?: Record<string, string | number>): string {
  let s = DICTS[lang][key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

export function useT(): typeof translate {
  useSyncExternalStore(
    (cb) => {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    () => lang,
  );
  return translate;
}
