/**
 * `npm run test:mutations`: removes one defence at a time and expects the tests to notice.
 *
 * - Database defences (`defences.ts`): applied to the scratch database the suite's global setup
 *   migrates (BULKHEAD_MUTATION); `tests/isolation` must fail.
 * - Code defences (`source-defences.ts`): edited in a copy of the working tree, where the suites
 *   the row names must fail.
 *
 * A mutated run stops at its first failing test (`--bail=1`): one is all a row needs, and the
 * rest (the cross-tenant probe alone takes ~8 s) would only name more of the same. The baseline
 * runs everything.
 *
 * `-- --database` runs the database rows, and the code rows of races only PostgreSQL shows (CI
 * runs it on PostgreSQL, where some rows only mean something). Exits non-zero when a defence goes unnoticed, when an edit no longer matches its code, or when
 * the suites fail with every defence in place.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { testEngine } from "../helpers/engine.js";
import { defences } from "./defences.js";
import { type SourceDefence, sourceDefences } from "./source-defences.js";

interface JsonReport {
  testResults: { assertionResults: { title: string; status: string }[] }[];
}

const root = process.cwd();
const notRun = "(the suite did not run)";

function runSuite(
  cwd: string,
  suites: string[],
  label: string,
  options: { env?: Record<string, string>; filter?: string | undefined; bail?: boolean } = {},
) {
  const { env = {}, filter, bail = true } = options;
  const output = join(dir, `${label}.json`);
  spawnSync(
    process.execPath,
    [
      join(root, "node_modules/vitest/vitest.mjs"),
      "run",
      ...suites,
      ...(filter ? ["-t", filter] : []),
      ...(bail ? ["--bail=1"] : []),
      "--reporter=json",
      `--outputFile=${output}`,
    ],
    { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] },
  );
  if (!existsSync(output)) return { failed: [notRun], passed: 0 };
  const report = JSON.parse(readFileSync(output, "utf8")) as JsonReport;
  const results = report.testResults.flatMap((file) => file.assertionResults);
  return {
    failed: results.filter((r) => r.status === "failed").map((r) => r.title),
    passed: results.filter((r) => r.status === "passed").length,
  };
}

/** A copy of the working tree (tracked and untracked files, not ignored ones) sharing node_modules. */
function copyTree(): string {
  const listed = spawnSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], {
    encoding: "utf8",
  });
  const copy = join(dir, "tree");
  for (const file of listed.stdout.split("\0").filter(Boolean)) {
    if (!existsSync(join(root, file))) continue; // deleted but still in the index
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    cpSync(join(root, file), join(copy, file));
  }
  symlinkSync(join(root, "node_modules"), join(copy, "node_modules"));
  return copy;
}

/** Applies a row's edits to the copy; returns a function that restores the files. */
function applyEdits(copy: string, defence: SourceDefence): () => void {
  const originals = new Map<string, string>();
  for (const edit of defence.edits) {
    const path = join(copy, edit.file);
    const source = readFileSync(path, "utf8");
    if (!originals.has(path)) originals.set(path, source);
    const at = source.indexOf(edit.find);
    if (at < 0 || source.indexOf(edit.find, at + 1) >= 0) {
      for (const [file, text] of originals) writeFileSync(file, text);
      throw new Error(`mutation ${defence.name}: its edit of ${edit.file} does not match exactly once`);
    }
    writeFileSync(path, source.slice(0, at) + edit.replace + source.slice(at + edit.find.length));
  }
  return () => {
    for (const [file, text] of originals) writeFileSync(file, text);
  };
}

const pad = (text: string, width: number) => text.padEnd(width);
let unnoticed = 0;
function report(name: string, failed: string[]) {
  // A suite that did not run proves nothing: count it as unnoticed, so the check fails.
  const caught = failed.length > 0 && !failed.includes(notRun);
  if (!caught) unnoticed++;
  const names = failed.map((title) => title.split(" ").slice(0, 6).join(" "));
  console.log(`${pad(name, 28)} ${pad(caught ? "yes" : "NO", 7)} ${failed.length} (${names.join("; ") || "none"})`);
}

const databaseOnly = process.argv.includes("--database");
// `-- --only=a,b`: just those rows, while working on a defence.
const only = process.argv
  .find((arg) => arg.startsWith("--only="))
  ?.slice(7)
  .split(",");
const chosen = (name: string) => !only || only.includes(name);
// Every row's edits must still match, each applied after the ones before it, before anything
// runs: a stale row fails in seconds, not after the rows before it.
const stale = sourceDefences.flatMap((d) => {
  const edited = new Map<string, string>();
  return d.edits.flatMap((edit) => {
    const source = edited.get(edit.file) ?? readFileSync(join(root, edit.file), "utf8");
    const at = source.indexOf(edit.find);
    if (at < 0 || source.indexOf(edit.find, at + 1) >= 0) return [`${d.name} (${edit.file})`];
    edited.set(edit.file, source.slice(0, at) + edit.replace + source.slice(at + edit.find.length));
    return [];
  });
});
if (stale.length > 0) {
  console.error(`These rows' edits no longer match their code exactly once:\n  ${stale.join("\n  ")}`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), "bulkhead-mutations-"));
try {
  const databaseRows = defences.filter((d) => d.engines.includes(testEngine) && chosen(d.name));
  // Code rows run on their engines (PGlite by default); `--database` leaves out PGlite's.
  const codeRows = sourceDefences.filter(
    (d) =>
      chosen(d.name) && (d.engines ?? ["pglite"]).includes(testEngine) && !(databaseOnly && testEngine === "pglite"),
  );
  const suitesOfDatabase = [...new Set(databaseRows.flatMap((d) => d.suites ?? ["tests/isolation"]))];
  const suitesOfCode = [...new Set(codeRows.flatMap((d) => d.suites))];
  console.log(
    `Mutation check on ${testEngine}: ${databaseRows.length} database defences, ${codeRows.length} code defences.\n`,
  );
  const baseline = runSuite(root, [...new Set([...suitesOfDatabase, ...suitesOfCode])], "baseline", { bail: false });
  if (baseline.failed.length > 0) {
    console.error(`The suites fail with every defence in place:\n  ${baseline.failed.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`baseline: ${baseline.passed} tests pass with every defence in place\n`);
  console.log(`${pad("defence removed", 28)} ${pad("caught", 7)} the test that caught it`);
  console.log(`${"-".repeat(28)} ${"-".repeat(7)} ${"-".repeat(60)}`);
  for (const defence of databaseRows) {
    const suites = defence.suites ?? ["tests/isolation"];
    report(defence.name, runSuite(root, suites, defence.name, { env: { BULKHEAD_MUTATION: defence.name } }).failed);
  }
  const copy = codeRows.length > 0 ? copyTree() : root;
  for (const defence of codeRows) {
    const restore = applyEdits(copy, defence);
    try {
      report(
        defence.name,
        runSuite(copy, defence.suites, defence.name, { env: defence.env, filter: defence.filter }).failed,
      );
    } finally {
      restore();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (unnoticed > 0) {
  console.error(`\n${unnoticed} defence(s) went unnoticed`);
  process.exit(1);
}
console.log("\nEvery defence is caught by at least one test.");
