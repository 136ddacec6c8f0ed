/**
 * Two tenants, each with projects and tasks, and proof that neither sees the other.
 *
 *   npm run demo                       # starts a throwaway Bulkhead server on embedded PGlite
 *   npm run demo -- http://host/trpc   # or talks to a running one
 */
import { type BulkheadClient, createBulkheadClient, errorCode } from "@bulkhead/client";
import { startServer } from "./server.js";

const line = (text = "") => console.log(text);
const step = (who: string, text: string) => console.log(`  ${who.padEnd(7)} ${text}`);

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
