/**
 * Two tenants, each with projects and tasks, and proof that neither sees the other.
 *
 *   npm run demo                       # starts a throwaway Bulkhead server on embedded PGlite
 *   npm run demo -- http://host/trpc   # or talks to a running one
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { type BulkheadClient, createBulkheadClient, errorCode } from "@bulkhead/client";

const line = (text = "") => console.log(text);
const step = (who: string, text: string) => console.log(`  ${who.padEnd(7)} ${text}`);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

async function startServer(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", "server/node.ts"], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      PGLITE_DATA_DIR: "memory://",
      JWT_SECRET: process.env.JWT_SECRET ?? "demo-secret-demo-secret-demo-secret-0123",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout?.on("data", (chunk) => {
    log += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    log += chunk;
  });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 150; attempt++) {
    if (child.exitCode !== null) throw new Error(`server exited:\n${log}`);
    const ready = await fetch(`${url}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ready) return { url: `${url}/trpc`, child };
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill();
  throw new Error(`server did not become ready:\n${log}`);
}

async function workspace(label: string, api: BulkheadClient, slug: string, projectNames: string[]) {
  const session = await api.auth.registerTenant.mutate({
    tenant: { name: label, slug },
    owner: { email: `owner@${slug}.example`, password: "a demo password, not for production", name: `${label} Owner` },
  });
  step(label, `registered workspace "${session.tenant.slug}" as ${session.user.email} (${session.user.role})`);
  const projects = [];
  for (const name of projectNames) {
    const project = await api.projects.create.mutate({ name, description: `${label}'s ${name.toLowerCase()}` });
    const task = await api.tasks.create.mutate({
      projectId: project.id,
      title: `Kick off ${name}`,
      assigneeId: session.user.id,
    });
    step(label, `created project "${project.name}" with task "${task.title}"`);
    projects.push(project);
  }
  return { session, projects };
}

async function main() {
  const given = process.argv[2];
  const server = given ? null : await startServer();
  const url = given ?? server?.url ?? "";
  const run = Date.now().toString(36);
  try {
    line(`Bulkhead demo against ${url}`);
    const health = await createBulkheadClient({ url }).health.query();
    line(`health: ${health.status}, database: ${health.database}`);
    line();

    const acmeApi = createBulkheadClient({ url });
    const globexApi = createBulkheadClient({ url });
    const acme = await workspace("Acme", acmeApi, `acme-${run}`, ["Rocket skates", "Giant magnet"]);
    const globex = await workspace("Globex", globexApi, `globex-${run}`, ["Doomsday device"]);
    line();

    line("Each workspace lists only its own projects:");
    for (const [label, api] of [
      ["Acme", acmeApi],
      ["Globex", globexApi],
    ] as const) {
      const page = await api.projects.list.query({});
      step(label, `sees ${page.items.length} project(s): ${page.items.map((p) => p.name).join(", ")}`);
    }
    line();

    line("Globex tries to reach Acme's data by id:");
    const target = acme.projects[0];
    if (!target) throw new Error("no project");
    const attempts: [string, () => Promise<unknown>][] = [
      ["projects.get", () => globexApi.projects.get.query({ id: target.id })],
      ["projects.update", () => globexApi.projects.update.mutate({ id: target.id, name: "Pwned" })],
      ["tasks.create", () => globexApi.tasks.create.mutate({ projectId: target.id, title: "Sneaky" })],
      ["tasks.list", () => globexApi.tasks.list.query({ projectId: target.id })],
    ];
    for (const [name, attempt] of attempts) {
      const outcome = await attempt().then(
        () => "ALLOWED (this would be a bug)",
        (error: unknown) => errorCode(error) ?? String(error),
      );
      step("Globex", `${name} on Acme's project -> ${outcome}`);
    }
    const still = await acmeApi.projects.get.query({ id: target.id });
    step(
      "Acme",
      `project "${still.name}" is untouched; its tasks: ${(await acmeApi.tasks.list.query({ projectId: target.id })).items.map((x) => x.title).join(", ")}`,
    );
    line();

    const audit = await acmeApi.audit.list.query({ limit: 5 });
    line("Acme's audit trail (newest first):");
    for (const event of audit.items) step("Acme", `${event.action} ${event.targetType}`);
    line();
    line(`Globex's session belongs to tenant ${globex.session.tenant.slug}; no call above revealed Acme's data.`);
  } finally {
    server?.child.kill("SIGTERM");
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
