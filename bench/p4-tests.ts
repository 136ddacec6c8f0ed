/**
 * P4 — tests: the time to give a test file a fresh migrated PGlite (`openCopy` of the migrated
 * data directory made by `dumpForCopies`, as tests/helpers/db.ts does) against migrating a new one,
 * and the wall time of the whole `npm test` (full mode only; CI runs the suite itself).
 */
import { spawnSync } from "node:child_process";
import { migratePgliteDb } from "../db/migrate.js";
import { connectPglite } from "../db/pglite.js";
import { connectCopySource, dumpForCopies, openCopy } from "../tests/helpers/pglite-copies.js";
import { median, quick, type Row } from "./lib.js";

export async function benchTests(): Promise<Row[]> {
  const source = await connectCopySource();
  await migratePgliteDb(source.db);
  const dump = await dumpForCopies(source.client);

  const rounds = quick ? 5 : 10;
  const fresh: number[] = [];
  const copied: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let t0 = performance.now();
    const migrated = await connectPglite();
    await migratePgliteDb(migrated.db);
    fresh.push(performance.now() - t0);
    await migrated.close();

    t0 = performance.now();
    const copy = await openCopy(dump);
    await copy.query("select 1");
    copied.push(performance.now() - t0);
    await copy.close();
  }
  const copyMs = median(copied);
  const freshMs = median(fresh);
  const rows: Row[] = [
    {
      id: "P4",
      what: "fresh migrated PGlite per test file",
      baseline: `${freshMs.toFixed(0)} ms (new + migrate)`,
      measured: `${copyMs.toFixed(0)} ms (copy)`,
      ratio: copyMs / freshMs,
      target: "<= 400 ms",
      ok: copyMs <= 400,
    },
  ];
  if (!quick) {
    const t0 = performance.now();
    const run = spawnSync("npx", ["vitest", "run"], {
      // The fast tier with its own fuzz counts, as a developer runs it.
      env: Object.fromEntries(
        Object.entries(process.env).filter(([key]) => !["FUZZ_OPS", "FUZZ_INPUTS", "BULKHEAD_TEST_TIER"].includes(key)),
      ),
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    const seconds = (performance.now() - t0) / 1000;
    // A failed suite is a result to report, not only a flag: show what failed.
    if (run.status !== 0) process.stderr.write(`P4b: npm test failed (exit ${run.status}):\n${failureReport(run)}\n`);
    rows.push({
      id: "P4b",
      what: "npm test wall time (PGlite, 2 cores)",
      baseline: "",
      measured: `${seconds.toFixed(1)} s${run.status === 0 ? "" : " (FAILED)"}`,
      ratio: null,
      target: "<= 60 s",
      ok: seconds <= 60 && run.status === 0,
    });
  }
  return rows;
}

/** The lines of a vitest run that name what failed, with their context (or the output's end). */
function failureReport(run: { stdout: string; stderr: string }): string {
  const lines = `${run.stdout}\n${run.stderr}`.split("\n");
  const first = lines.findIndex((line) => /FAIL|Error|×/.test(line));
  return (first === -1 ? lines.slice(-40) : lines.slice(first, first + 80)).join("\n");
}
