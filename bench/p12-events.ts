/**
 * P12 — live events over SSE (`events.onChange`), on the bench server (issue 31 called it P9, a
 * number the hashing row already had):
 * - delivery: 100 streams (10 tenants × 10) open while a writer creates tasks at 50 a second;
 *   how long from a write's start until each of its tenant's streams has the event, against the
 *   write's own round trip in the same run (the baseline: what a client waits for its own write);
 * - idle streams: what 1,000 open, idle streams cost the server in resident memory, and how many
 *   reads a second their polling costs the database (each reads every EVENTS_POLL_MS).
 */
import { readFileSync } from "node:fs";
import { Agent } from "undici";
import { startBenchServer } from "./http.js";
import { percentile, quick, type Row, scratchDatabase } from "./lib.js";
import { projectOfEachTenant, seedTenants } from "./seed.js";
import { accessTokenFor } from "./tokens.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An open SSE stream of `events.onChange`: calls `onEvent` with each event's entity id. */
async function openStream(
  agent: Agent,
  origin: string,
  token: string,
  onEvent: (entityId: string) => void,
  signal: AbortSignal,
) {
  const input = encodeURIComponent(JSON.stringify({ json: {} }));
  const params = encodeURIComponent(JSON.stringify({ token }));
  const response = await agent.request({
    origin,
    path: `/trpc/events.onChange?input=${input}&connectionParams=${params}`,
    method: "GET",
    signal,
  });
  if (response.statusCode !== 200) throw new Error(`a stream answered ${response.statusCode}`);
  let connected!: () => void;
  const ready = new Promise<void>((resolve) => {
    connected = resolve;
  });
  void (async () => {
    let buffered = "";
    try {
      for await (const chunk of response.body) {
        buffered += chunk.toString();
        let end = buffered.indexOf("\n\n");
        while (end >= 0) {
          const message = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          if (message.includes("event: connected")) connected();
          const data = /^data: (.*)$/m.exec(message)?.[1];
          const entityId = data && !message.includes("event:") ? /"entityId":"([^"]+)"/.exec(data)?.[1] : undefined;
          if (entityId) onEvent(entityId);
          end = buffered.indexOf("\n\n");
        }
      }
    } catch {
      // aborted at the end of the run
    }
  })();
  await ready;
}

function rssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

export async function benchEvents(): Promise<Row[]> {
  const scratch = await scratchDatabase("p12");
  const stop = new AbortController();
  const agent = new Agent({ connections: 1200, pipelining: 1, bodyTimeout: 0, headersTimeout: 0 });
  try {
    const seeded = await seedTenants(scratch.owner, 10, 1, "P12 seeding");
    const projectOf = await projectOfEachTenant(scratch.owner);
    const tenants = await Promise.all(
      seeded.map(async (t) => ({ ...t, projectId: projectOf.get(t.tenantId) ?? "", token: await accessTokenFor(t) })),
    );
    const server = await startBenchServer(scratch.name, {
      EVENTS_MAX_STREAMS_PER_USER: "2000",
      EVENTS_MAX_STREAMS_PER_TENANT: "2000",
    });
    try {
      // Delivery: 5 streams per tenant, each noting when each entity's event came.
      const received = new Map<string, number[]>();
      const perTenant = 10;
      for (const tenant of tenants) {
        for (let s = 0; s < perTenant; s++) {
          await openStream(
            agent,
            server.origin,
            tenant.token,
            (entityId) => {
              const times = received.get(entityId) ?? [];
              times.push(performance.now());
              received.set(entityId, times);
            },
            stop.signal,
          );
        }
      }
      const writes: { id: string; started: number; ms: number }[] = [];
      const perSecond = 50;
      const seconds = quick ? 4 : 12;
      for (let i = 0; i < perSecond * seconds; i++) {
        const tenant = tenants[i % tenants.length];
        if (!tenant) continue;
        const started = performance.now();
        void agent
          .request({
            origin: server.origin,
            path: "/trpc/tasks.create",
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${tenant.token}` },
            body: JSON.stringify({ json: { projectId: tenant.projectId, title: `live ${i}` } }),
          })
          .then(async (response) => {
            const body = (await response.body.json()) as { result?: { data: { json: { id: string } } } };
            const id = body.result?.data.json.id;
            if (id) writes.push({ id, started, ms: performance.now() - started });
          });
        await sleep(1000 / perSecond);
      }
      await sleep(3000);
      const delivery: number[] = [];
      let missing = 0;
      for (const write of writes) {
        const times = received.get(write.id) ?? [];
        missing += perTenant - times.length;
        for (const at of times) delivery.push(at - write.started);
      }
      const writeP50 = percentile(
        writes.map((w) => w.ms),
        50,
      );
      const deliveryP50 = percentile(delivery, 50);
      const deliveryP99 = percentile(delivery, 99);
      if (writes.length < perSecond * seconds) throw new Error(`${perSecond * seconds - writes.length} writes failed`);

      // Idle streams: 1,000 more, of one tenant, doing nothing.
      await sleep(1000);
      const before = rssMb(server.child.pid);
      const idle = 1000;
      const tenant = tenants[0];
      for (let s = 0; s < idle && tenant; s++) {
        await openStream(agent, server.origin, tenant.token, () => {}, stop.signal);
      }
      await sleep(3000);
      const after = rssMb(server.child.pid);
      const pollMs = 2000;
      return [
        {
          id: "P12",
          what: `SSE delivery: write start to the event on each of ${tenants.length * perTenant} streams (${writes.length} writes at ${perSecond}/s; p99 ${deliveryP99.toFixed(0)} ms; ${missing} missed)`,
          baseline: `write p50 ${writeP50.toFixed(1)} ms`,
          measured: `delivery p50 ${deliveryP50.toFixed(1)} ms`,
          ratio: writeP50 / deliveryP50,
          target: "p99 < 100 ms, 0 missed",
          ok: deliveryP99 < 100 && missing === 0,
        },
        {
          id: "P12",
          what: `1,000 idle streams: the server's resident memory, and their polling (${((idle + tenants.length * perTenant) * 1000) / pollMs} reads/s at EVENTS_POLL_MS ${pollMs})`,
          baseline: `${before.toFixed(0)} MB`,
          measured: `${after.toFixed(0)} MB`,
          ratio: null,
          target: "info",
          ok: true,
          info: true,
        },
      ];
    } finally {
      stop.abort();
      await server.stop();
    }
  } finally {
    await agent.close().catch(() => undefined);
    await scratch.drop();
  }
}
