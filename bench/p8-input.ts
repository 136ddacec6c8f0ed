/**
 * P8 — reading a hostile input costs what parsing it costs. The review's body (913 KB: a
 * 55,000-element array declared a Set, and 27,000 referential-equality paths into it) held the
 * event loop for 12.4 s in superjson; Bulkhead's input check refuses it in one pass. Baseline:
 * `JSON.parse` of the same body, which every request pays anyway. Also a legitimate ~850 KB
 * input of 15,000 Date annotations, checked and then read by superjson, against superjson
 * reading it unchecked: what the check adds.
 */
import superjson from "superjson";
import { deserializeInput } from "../server/input.js";
import { median, quick, type Row } from "./lib.js";

function attackBody(): string {
  const s = Array.from({ length: 55_000 }, (_, i) => i);
  const referentialEqualities: Record<string, string[]> = {};
  for (let i = 0; i < 27_000; i++) referentialEqualities[`s.${i}`] = [`s.${i}`];
  return JSON.stringify({
    json: { tenantSlug: "acme", s },
    meta: { values: { s: ["set"] }, referentialEqualities, v: 1 },
  });
}

function datesBody(): string {
  const rows = Array.from({ length: 15_000 }, (_, i) => ({ at: new Date(i * 1000).toISOString() }));
  const values: Record<string, string[]> = {};
  rows.forEach((_, i) => {
    values[`rows.${i}.at`] = ["Date"];
  });
  return JSON.stringify({ json: { rows }, meta: { values, v: 1 } });
}

function timeOf(fn: () => void, rounds: number): number {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    fn();
    samples.push(performance.now() - started);
  }
  return median(samples);
}

function row(id: string, what: string, body: string, target: number, baseline: "parse" | "superjson"): Row {
  const rounds = quick ? 5 : 15;
  const base = timeOf(
    () => (baseline === "parse" ? JSON.parse(body) : superjson.deserialize(JSON.parse(body))),
    rounds,
  );
  const read = timeOf(() => {
    try {
      deserializeInput(JSON.parse(body));
    } catch {
      // refused: what is measured is how long refusing takes
    }
  }, rounds);
  return {
    id,
    what: `${what} (${(body.length / 1024).toFixed(0)} KB)`,
    baseline: `${base.toFixed(1)} ms ${baseline === "parse" ? "JSON.parse" : "superjson unchecked"}`,
    measured: `${read.toFixed(1)} ms`,
    ratio: read / base,
    target: `<= ${target.toFixed(2)}x`,
    ok: read / base <= target,
  };
}

export async function benchInput(): Promise<Row[]> {
  return [
    row("P8a", "superjson Set attack refused", attackBody(), 3, "parse"),
    row("P8b", "15,000 Date annotations checked and read", datesBody(), 3, "superjson"),
  ];
}
