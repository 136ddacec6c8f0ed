/**
 * `npm run bench [-- --quick]`: every benchmark against its baseline measured in the same run,
 * as ratios of medians over alternating rounds. Exits non-zero when a target is missed (in
 * --quick mode, used by CI on varying machines, it only warns).
 */
import { printTable, quick, type Row } from "./lib.js";
import { benchFootprint } from "./m-footprint.js";
import { benchDataLayer } from "./p1-data-layer.js";
import { benchHttp } from "./p2-http.js";
import { benchScale } from "./p3-scale.js";
import { benchTests } from "./p4-tests.js";
import { benchLogins } from "./p5-logins.js";
import { benchWrites } from "./p6-writes.js";
import { benchRlsPattern } from "./p7-rls-pattern.js";
import { benchInput } from "./p8-input.js";
import { benchHashing } from "./p9-hashing.js";
import { benchMixed } from "./p10-mixed.js";
import { benchCitus } from "./p11-citus.js";
import { benchEvents } from "./p12-events.js";
import { benchRest } from "./p13-rest.js";
import { benchEdgeHash } from "./p14-edge-hash.js";

const only = process.argv
  .find((a) => a.startsWith("--only="))
  ?.slice("--only=".length)
  .split(",");
const all: [string, () => Promise<Row | Row[]>][] = [
  ["P1", benchDataLayer],
  ["P2", benchHttp],
  ["P3", benchScale],
  ["P4", benchTests],
  ["P5", benchLogins],
  ["P6", benchWrites],
  ["P7", benchRlsPattern],
  ["P8", benchInput],
  ["P9", benchHashing],
  ["P10", benchMixed],
  ["P11", benchCitus],
  ["P12", benchEvents],
  ["P13", benchRest],
  ["P14", benchEdgeHash],
  ["Mem-PGlite", benchFootprint],
];

const rows: Row[] = [];
for (const [id, bench] of all) {
  if (only && !only.includes(id)) continue;
  const started = performance.now();
  const result = await bench();
  rows.push(...(Array.isArray(result) ? result : [result]));
  console.log(`${id} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
console.log();
printTable(rows);
const missed = rows.filter((r) => !r.ok);
if (missed.length > 0) {
  const message = `${missed.length} target(s) missed: ${missed.map((r) => r.id).join(", ")}`;
  if (quick) console.warn(`warning (quick mode): ${message}`);
  else {
    console.error(message);
    process.exitCode = 1;
  }
}
