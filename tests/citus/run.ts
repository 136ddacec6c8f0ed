/**
 * `npm run test:citus`: the suites on a real Citus cluster, when one answers on CITUS_URL
 * (default: the coordinator of ../shared/citus/cluster.sh, 127.0.0.1:9700, database bulkhead);
 * otherwise one line saying it was skipped, and exit 0 (CI cannot build Citus; the PostgreSQL
 * suites are the gate there). Each vitest run migrates, and so distributes, the database first.
 *
 * 1. the isolation suite and the model fuzzer, whose probes name no tenant on purpose: they may
 *    fan out to every shard, and RLS must stop them on every worker (CITUS_FAN_OUT=allow);
 * 2. the product's flows, with the runtime role's fan-out guard on: a request statement that
 *    would reach every shard fails them;
 * 3. tests/citus: the distribution itself, single-shard requests, shard moves keeping RLS.
 */
import { spawnSync } from "node:child_process";
import { citusVersionAt, localCitusUrl } from "../../db/distribute.js";

const url = process.env.CITUS_URL ?? localCitusUrl;

const version = await citusVersionAt(url);
if (!version) {
  console.log(`test:citus skipped: no Citus cluster answers on ${url} (see ../shared/citus/README.md)`);
  process.exit(0);
}
console.log(`test:citus on Citus ${version} at ${url}`);

const runs: { name: string; env: Record<string, string>; files: string[] }[] = [
  {
    name: "isolation suite and model fuzzer (probes may fan out)",
    env: { CITUS_FAN_OUT: "allow", FUZZ_OPS: process.env.FUZZ_OPS ?? "2000" },
    files: [
      "tests/isolation/attacks.test.ts",
      "tests/isolation/catalogue.test.ts",
      "tests/isolation/probe.test.ts",
      "tests/fuzz",
    ],
  },
  {
    name: "the product's flows, with the fan-out guard on",
    env: {},
    files: [
      "tests/projects.test.ts",
      "tests/tasks.test.ts",
      "tests/comments.test.ts",
      "tests/audit.test.ts",
      "tests/events.test.ts",
      "tests/webhooks.test.ts",
      "tests/api-keys.test.ts",
      "tests/rest.test.ts",
      "tests/pagination.test.ts",
      "tests/auth",
      "tests/tenant-lifecycle.test.ts",
      "tests/tenant-export.test.ts",
      "tests/mail",
      "tests/citus",
    ],
  },
];

let failed = 0;
for (const run of runs) {
  console.log(`\n== ${run.name}`);
  const result = spawnSync("npx", ["vitest", "run", "--no-file-parallelism", ...run.files], {
    stdio: "inherit",
    env: { ...process.env, ...run.env, CITUS_URL: url, BULKHEAD_TEST_ENGINE: "postgres", BULKHEAD_TEST_TIER: "all" },
  });
  if (result.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
