// Prints the gzipped size of what the first page load fetches (index.html plus the JS/CSS it references).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const dist = new URL("../../src/hy2scale/web/dist/", import.meta.url).pathname;
const LIMIT_KB = 350;
const index = readFileSync(join(dist, "index.html"));
const referenced = [...index.toString().matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((m) => m[1]);
const files = [["index.html", index], ...referenced.map((f) => [f, readFileSync(join(dist, f))])];
let raw = 0;
let gz = 0;
for (const [, data] of files) {
  raw += data.length;
  gz += gzipSync(data, { level: 9 }).length;
}
const all = readdirSync(join(dist, "assets")).length;
const kb = (n) => (n / 1024).toFixed(1);
console.log(`ui bundle: first load ${kb(gz)} KB gzipped (${kb(raw)} KB raw, ${files.length} files; ${all} assets total; limit ${LIMIT_KB} KB)`);
if (gz / 1024 > LIMIT_KB) {
  console.error(`ui bundle: first load exceeds ${LIMIT_KB} KB gzipped`);
  process.exit(1);
}
