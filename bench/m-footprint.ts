/**
 * Mem-PGlite and Cold — what the zero-set-up default costs, and how fast a server comes up:
 * - `npm start` (tsx server/node.ts) on a fresh PGlite data directory: time to /readyz, then its
 *   RSS once idle (V8's memory reducer runs ~8 s after the last activity: sampled at 20 s);
 * - the same server under a 16-client read/write soak: peak RSS (VmHWM, reset before the soak);
 * - a restart on the now-existing directory: time to /readyz and idle RSS;
 * - the production build (`node dist/server/node.js`) on a migrated PostgreSQL, against the same
 *   code under tsx on the same database, in the same run: time to /readyz.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { load } from "./http.js";
import { median, quick, type Row, scratchDatabase, urlFor } from "./lib.js";
import { benchSecret } from "./tokens.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let nextPort = 31_000 + Math.floor(Math.random() * 1000);

interface Started {
  child: ChildProcess;
  origin: string;
  readyMs: number;
  status(field: "VmRSS" | "VmHWM"): number;
  stop(): Promise<void>;
}

/** Starts a server process and waits for /readyz (at most 120 s); its output is drained. */
async function start(args: string[], env: Record<string, string>): Promise<Started> {
  const port = nextPort++;
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      HOST: "127.0.0.1",
      PORT: String(port),
      JWT_SECRET: benchSecret,
      LOG_LEVEL: "warn",
      OUTBOX_POLL_MS: "0",
      PRUNE_INTERVAL_SECONDS: "0",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 2400; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ready = await fetch(`${origin}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    await sleep(50);
  }
  const readyMs = performance.now() - started;
  return {
    child,
    origin,
    readyMs,
    status: (field) =>
      Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0) /
      1024,
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** RSS once the process has been idle for 20 s. */
async function idleRss(server: Started): Promise<number> {
  await sleep(20_000);
  return server.status("VmRSS");
}

async function register(origin: string, slug: string) {
  const response = await fetch(`${origin}/trpc/auth.registerTenant`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      json: {
        tenant: { name: slug, slug },
        owner: { email: `owner@${slug}.test`, password: "a passphrase long enough", name: "Owner" },
      },
    }),
  });
  const body = (await response.json()) as { result: { data: { json: { accessToken: string } } } };
  return body.result.data.json.accessToken;
}

export async function benchFootprint(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "bulkhead-footprint-"));
  const dataDir = join(dir, "pglite");
  // Exactly what `npm start` runs (its node flags included), without npm's own process around it.
  const tsx = (
    JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: { start: string } }
  ).scripts.start
    .split(" ")
    .slice(1);
  try {
    // First start: initdb and the migrations, then idle.
    const first = await start(tsx, { PGLITE_DATA_DIR: dataDir });
    const firstIdle = await idleRss(first);

    // The soak: 16 clients, reads and writes across 4 workspaces.
    const tokens = await Promise.all([1, 2, 3, 4].map((n) => register(first.origin, `soak-${n}`)));
    writeFileSync(`/proc/${first.child.pid}/clear_refs`, "5");
    const ms = quick ? 20_000 : 120_000;
    const list = `/trpc/projects.list?input=${encodeURIComponent(JSON.stringify({ json: { limit: 20 } }))}`;
    const soak = await load(
      first.origin,
      16,
      ms,
      (
        worker,
        i,
      ): Parameters<Parameters<typeof load>[3]>[0] extends never ? never : ReturnType<Parameters<typeof load>[3]> => {
        const authorization = `Bearer ${tokens[worker % tokens.length]}`;
        return i % 4 === 3
          ? {
              path: "/trpc/projects.create",
              method: "POST",
              headers: { authorization, "content-type": "application/json" },
              body: JSON.stringify({ json: { name: `soak ${worker}-${i}` } }),
            }
          : { path: list, headers: { authorization } };
      },
    );
    const soakPeak = first.status("VmHWM");
    await first.stop();

    // Restart on the same directory.
    const again = await start(tsx, { PGLITE_DATA_DIR: dataDir });
    const againIdle = await idleRss(again);
    await again.stop();

    // Cold start on PostgreSQL: the built server against tsx, alternating, same database.
    await new Promise<void>((resolve, reject) => {
      const build = spawn(process.execPath, ["--import", "tsx", "server/build-node.ts"], {
        cwd: root,
        stdio: "ignore",
      });
      build.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`build exited with ${code}`))));
    });
    const scratch = await scratchDatabase("cold");
    const built: number[] = [];
    const viaTsx: number[] = [];
    try {
      const env = { DATABASE_URL: urlFor(scratch.name, "bulkhead_app") };
      for (let round = 0; round < (quick ? 2 : 5); round++) {
        const b = await start(["dist/server/node.js"], env);
        built.push(b.readyMs);
        await b.stop();
        const t = await start(tsx, env);
        viaTsx.push(t.readyMs);
        await t.stop();
      }
    } finally {
      await scratch.drop();
    }

    const mb = (n: number) => `${n.toFixed(0)} MB`;
    const s = (n: number) => `${(n / 1000).toFixed(1)} s`;
    return [
      {
        id: "Cold-PGlite",
        what: "npm start to /readyz on PGlite: first start (initdb + migrations) / restart",
        baseline: "",
        measured: `${s(first.readyMs)} / ${s(again.readyMs)}`,
        ratio: null,
        target: "",
        ok: true,
      },
      {
        id: "Cold-built",
        what: "to /readyz on a migrated PostgreSQL: node dist/server/node.js vs tsx server/node.ts",
        baseline: s(median(viaTsx)),
        measured: s(median(built)),
        ratio: median(viaTsx) / median(built),
        target: "",
        ok: true,
      },
      {
        id: "Mem-PGlite",
        what: "npm start on PGlite, RSS idle after the first start / after a restart",
        baseline: "",
        measured: `${mb(firstIdle)} / ${mb(againIdle)}`,
        ratio: null,
        target: "<= 250 MB",
        ok: Math.max(firstIdle, againIdle) <= 250,
      },
      {
        id: "Mem-PGlite",
        what: `peak RSS under a 16-client soak, ${(soak.latencies.length / (ms / 1000)).toFixed(0)} ops/s for ${ms / 1000} s, ${soak.errors} errors`,
        baseline: "",
        measured: mb(soakPeak),
        ratio: null,
        target: "<= 350 MB",
        ok: soakPeak <= 350 && soak.errors === 0,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
