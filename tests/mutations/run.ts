/**
 * `npm run test:mutations`: removes one defence at a time from a scratch database and runs the
 * isolation suite against it. Every defence must make at least one test fail; exits non-zero
 * when one goes unnoticed (or when the suite fails with every defence in place).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testEngine } from "../helpers/engine.js";
import { defences } from "./defences.js";

interface JsonReport {
  testResults: { assertionResults: { title: string; status: string }[] }[];
}

const dir = mkdtempSync(join(tmpdir(), "bulkhead-mutations-"));

function runSuite(mutation: string | null): { failed: string[]; passed: number } {
  const output = join(dir, `${mutation ?? "baseline"}.json`);
  spawnSync(
    process.execPath,
    ["node_modules/vitest/vitest.mjs", "run", "tests/isolation", "--reporter=json", `--outputFile=${output}`],
    {
      env: { ...process.env, ...(mutation ? { BULKHEAD_MUTATION: mutation } : {}) },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  const report = JSON.parse(readFileSync(output, "utf8")) as JsonReport;
  const results = report.testResults.flatMap((file) => file.assertionResults);
  return {
    failed: results.filter((r) => r.status === "failed").map((r) => r.title),
    passed: results.filter((r) => r.status === "passed").length,
  };
}

const pad = (text: string, width: number) => text.padEnd(width);
let unnoticed = 0;
try {
  console.log(`Mutation check on ${testEngine}: each row removes one defence and runs tests/isolation.\n`);
  const baseline = runSuite(null);
  if (baseline.failed.length > 0) {
    console.error(`The isolation suite fails with every defence in place:\n  ${baseline.failed.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`baseline: ${baseline.passed} tests pass with every defence in place\n`);
  console.log(`${pad("defence removed", 28)} ${pad("caught", 7)} tests that failed`);
  console.log(`${"-".repeat(28)} ${"-".repeat(7)} ${"-".repeat(60)}`);
  for (const defence of defences.filter((d) => d.engines.includes(testEngine))) {
    const { failed } = runSuite(defence.name);
    if (failed.length === 0) unnoticed++;
    const names = failed.map((title) => title.split(" ")[0]?.replace(/\.$/, "") ?? title);
    console.log(
      `${pad(defence.name, 28)} ${pad(failed.length > 0 ? "yes" : "NO", 7)} ${failed.length} (${names.join(", ") || "none"})`,
    );
    for (const title of failed) console.log(`${" ".repeat(37)}- ${title}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (unnoticed > 0) {
  console.error(`\n${unnoticed} defence(s) went unnoticed by the isolation suite`);
  process.exit(1);
}
console.log("\nEvery defence is caught by at least one isolation test.");
