// Fails the build when a t("…") string has no zh or ko translation (English text is the key).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const src = new URL("../src/", import.meta.url).pathname;
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.tsx?$/.test(name) && !p.includes("/locales/")) files.push(p);
  }
};
walk(src);
const keys = new Set();
for (const f of files) {
  const text = readFileSync(f, "utf8");
  for (const m of text.matchAll(/\bt\("((?:[^"\\]|\\.)*)"/g)) keys.add(JSON.parse(`"${m[1]}"`));
  // Navigation and tab labels are translated through t(label).
  if (f.endsWith("App.tsx") || f.endsWith("Settings.tsx"))
    for (const m of text.matchAll(/(?:label: |: )"([A-Z][^"]*)"/g)) if (!m[1].includes("/")) keys.add(m[1]);
}
let missing = 0;
for (const lang of ["zh", "ko"]) {
  const text = readFileSync(join(src, "locales", `${lang}.ts`), "utf8");
  const have = new Set([...text.matchAll(/^ {2}("(?:[^"\\]|\\.)*"):/gm)].map((m) => JSON.parse(m[1])));
  for (const k of keys)
    if (!have.has(k)) {
      console.error(`i18n: missing ${lang} translation for ${JSON.stringify(k)}`);
      missing++;
    }
}
if (missing) process.exit(1);
console.log(`i18n: ${keys.size} strings translated in zh and ko`);
