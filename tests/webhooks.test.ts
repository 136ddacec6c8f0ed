/**
 * Webhooks: the procedures (admins only, audited, another tenant's ids NOT_FOUND), delivery as
 * the Standard Webhooks spec says (verified with the `standardwebhooks` package as a receiver
 * would), retries with the same webhook-id, dead deliveries disabling an endpoint and mailing its
 * admins, redelivery, secret rotation, and the guard against private targets (SSRF). Every
 * receiver is a server on 127.0.0.1.
 */
import { lookup } from "node:dns/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { sql } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rowsOf } from "../db/types.js";
import { isPrivateAddress } from "../server/webhooks/addresses.js";
import { dispatchWebhooksOnce, type WebhookDispatchOptions } from "../server/webhooks/dispatcher.js";
import { codeOf, createTestApp, createTwoTenants, type TenantHandle, type TestApp } from "./helpers/app.js";

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on 127.0.0.1: answers each request with the next status of `statuses` (then 200). */
async function receiver() {
  const received: Received[] = [];
  const statuses: number[] = [];
  const server: Server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      body += chunk;
    });
    request.on("end", () => {
      received.push({ headers: request.headers, body });
      response.statusCode = statuses.shift() ?? 200;
      response.end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    port,
    received,
    statuses,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;
let hooks: Awaited<ReturnType<typeof receiver>>;

const dispatch = (overrides: Partial<WebhookDispatchOptions> = {}) =>
  dispatchWebhooksOnce({
    db: t.database.db,
    logger: t.logger,
    mail: t.config.mail,
    retryBaseSeconds: 1,
    maxAttempts: 3,
    disableAfter: 5,
    timeoutMs: 2000,
    allowPrivateTargets: true,
    ...overrides,
  });

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  ({ t, a, b } = await createTwoTenants({ env: { WEBHOOK_ALLOW_PRIVATE: "true" } }));
  hooks = await receiver();
});
afterAll(async () => {
  await hooks.close();
  await t.close();
});

describe("webhooks", () => {
  it("are managed by admins only: the secret once, every change audited, another tenant's ids not found", async () => {
    const created = await a.client.webhooks.create.mutate({ url: hooks.url, events: ["project.created"] });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const listed = await a.client.webhooks.list.query();
    expect(listed.map((w) => w.id)).toContain(created.id);
    expect(JSON.stringify(listed)).not.toContain(created.secret.slice(6));
    const rotated = await a.client.webhooks.rotateSecret.mutate({ id: created.id });
    expect(rotated.secret).not.toBe(created.secret);
    await a.client.webhooks.update.mutate({ id: created.id, events: ["project.created", "task.created"] });

    const member = await t.addMember(a, "member");
    expect(await codeOf(member.client.webhooks.list.query())).toBe("FORBIDDEN");
    expect(await codeOf(member.client.webhooks.create.mutate({ url: hooks.url, events: ["task.created"] }))).toBe(
      "FORBIDDEN",
    );
    for (const call of [
      () => b.client.webhooks.update.mutate({ id: created.id, enabled: false }),
      () => b.client.webhooks.rotateSecret.mutate({ id: created.id }),
      () => b.client.webhooks.deliveries.list.query({ webhookId: created.id }),
      () => b.client.webhooks.delete.mutate({ id: created.id }),
    ]) {
      expect(await codeOf(call())).toBe("NOT_FOUND");
    }
    expect((await b.client.webhooks.list.query()).map((w) => w.id)).not.toContain(created.id);

    const actions = (await a.client.audit.list.query({ limit: 50 })).items.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["webhook.created", "webhook.secret_rotated", "webhook.updated"]));
    await a.client.webhooks.delete.mutate({ id: created.id });
    expect((await a.client.audit.list.query({ limit: 5 })).items[0]?.action).toBe("webhook.deleted");
  });

  it("delivers the types asked for, signed as Standard Webhooks says, and records the answer", async () => {
    const { id, secret } = await a.client.webhooks.create.mutate({ url: hooks.url, events: ["task.created"] });
    const project = await a.client.projects.create.mutate({ name: "Hooked" });
    const task = await a.client.tasks.create.mutate({ projectId: project.id, title: "Signed" });
    hooks.received.length = 0;
    expect(await dispatch()).toMatchObject({ sent: 1, retried: 0, dead: 0 });
    expect(hooks.received).toHaveLength(1);
    const [got] = hooks.received;
    if (!got) throw new Error("nothing received");
    const verified = new Webhook(secret).verify(got.body, got.headers as Record<string, string>) as {
      type: string;
      timestamp: string;
      data: { type: string; entityId: string; projectId: string; payload: { title: string } };
    };
    expect(verified.type).toBe("task.created");
    expect(verified.data).toMatchObject({ type: "task.created", entityId: task.id, projectId: project.id });
    expect(verified.data.payload.title).toBe("Signed");
    expect(Number.isNaN(Date.parse(verified.timestamp))).toBe(false);
    expect(got.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
    // A body changed on the way fails the check.
    expect(() =>
      new Webhook(secret).verify(got.body.replace("Signed", "Forged"), got.headers as Record<string, string>),
    ).toThrow();

    const page = await a.client.webhooks.deliveries.list.query({ webhookId: id });
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({ status: "sent", attempts: 1, lastStatus: 200, eventType: "task.created" });
    expect(got.headers["webhook-id"]).toBe(`msg_${page.items[0]?.id}`);
    await a.client.webhooks.delete.mutate({ id });
  });

  it("retries after 500, 500 with backoff and the same webhook-id until one 2xx; every attempt verifies; B's receiver gets only B's", async () => {
    const theirs = await receiver();
    try {
      const { id, secret } = await a.client.webhooks.create.mutate({ url: hooks.url, events: ["project.created"] });
      const bHook = await b.client.webhooks.create.mutate({ url: theirs.url, events: ["project.created"] });
      const project = await a.client.projects.create.mutate({ name: "Retried" });
      const bProject = await b.client.projects.create.mutate({ name: "Beta's own" });
      hooks.received.length = 0;
      hooks.statuses.push(500, 500);
      expect(await dispatch()).toMatchObject({ sent: 1, retried: 1 }); // B's arrives, A's fails
      // Not due again before its backoff (1 s here, then 2 s).
      expect(await dispatch()).toMatchObject({ sent: 0, retried: 0 });
      await pause(1100);
      expect(await dispatch()).toMatchObject({ sent: 0, retried: 1 });
      const { secret: next } = await a.client.webhooks.rotateSecret.mutate({ id });
      await pause(2100);
      expect(await dispatch()).toMatchObject({ sent: 1 });
      expect(await dispatch()).toMatchObject({ sent: 0, retried: 0, dead: 0 });

      // Three attempts, one id, each signed over what it carried; exactly one answered 2xx.
      expect(hooks.received).toHaveLength(3);
      expect(new Set(hooks.received.map((r) => r.headers["webhook-id"])).size).toBe(1);
      for (const [n, attempt] of hooks.received.entries()) {
        const headers = attempt.headers as Record<string, string>;
        const event = new Webhook(n < 2 ? secret : next).verify(attempt.body, headers) as {
          data: { entityId: string };
        };
        expect(event.data.entityId).toBe(project.id);
      }
      // The last attempt came after the rotation: signed by the new secret and the previous one.
      const last = hooks.received[2];
      expect(String(last?.headers["webhook-signature"]).split(" ")).toHaveLength(2);
      expect(() => new Webhook(secret).verify(last?.body ?? "", last?.headers as Record<string, string>)).not.toThrow();
      const [delivery] = (await a.client.webhooks.deliveries.list.query({ webhookId: id })).items;
      expect(delivery).toMatchObject({ status: "sent", attempts: 3, lastStatus: 200 });

      // B's endpoint got B's event, signed with B's secret, and nothing of A.
      expect(theirs.received).toHaveLength(1);
      const got = new Webhook(bHook.secret).verify(
        theirs.received[0]?.body ?? "",
        theirs.received[0]?.headers as Record<string, string>,
      ) as { data: { entityId: string } };
      expect(got.data.entityId).toBe(bProject.id);
      expect(theirs.received.map((r) => r.body).join("")).not.toContain(project.id);
      await a.client.webhooks.delete.mutate({ id });
      await b.client.webhooks.delete.mutate({ id: bHook.id });
    } finally {
      await theirs.close();
    }
  });

  it("a delivery dies after its last attempt; dead ones in a row disable the endpoint and mail its admins; redelivery", async () => {
    const admin = await t.addMember(a, "admin");
    const { id } = await a.client.webhooks.create.mutate({ url: hooks.url, events: ["project.updated"] });
    const project = await a.client.projects.create.mutate({ name: "Doomed" });
    hooks.statuses.push(500, 500);
    await a.client.projects.update.mutate({ id: project.id, name: "Doomed 1" });
    await a.client.projects.update.mutate({ id: project.id, name: "Doomed 2" });
    const mailsBefore = rowsOf<{ n: number }>(
      await t.admin.execute(sql`select count(*)::int as n from outbox where tenant_id = ${a.tenantId}::uuid`),
    )[0]?.n;
    const result = await dispatch({ maxAttempts: 1, disableAfter: 2 });
    expect(result).toMatchObject({ dead: 2, disabled: 1 });
    const [endpoint] = (await a.client.webhooks.list.query()).filter((w) => w.id === id);
    expect(endpoint).toMatchObject({ enabled: false, consecutiveDead: 2 });
    expect(endpoint?.disabledAt).toBeInstanceOf(Date);
    const mails = rowsOf<{ to: string; subject: string }>(
      await t.admin.execute(
        sql`select payload->>'to' as to, payload->>'subject' as subject from outbox where tenant_id = ${a.tenantId}::uuid order by created_at desc limit ${2 + (mailsBefore ?? 0)}`,
      ),
    ).filter((mail) => mail.subject.startsWith("A webhook endpoint was disabled"));
    expect(mails.map((mail) => mail.to).sort()).toEqual([admin.session.user.email, a.session.user.email].sort());

    // A disabled endpoint gets no new deliveries, and none is sent again until it is on.
    await a.client.projects.update.mutate({ id: project.id, name: "Doomed 3" });
    const deliveries = (await a.client.webhooks.deliveries.list.query({ webhookId: id })).items;
    expect(deliveries).toHaveLength(2);
    expect(deliveries.every((d) => d.status === "dead" && d.lastStatus === 500)).toBe(true);
    const [newest] = deliveries;
    expect(await codeOf(a.client.webhooks.redeliver.mutate({ deliveryId: newest?.id ?? "" }))).toBe("BAD_REQUEST");
    await a.client.webhooks.update.mutate({ id, enabled: true });
    await a.client.webhooks.redeliver.mutate({ deliveryId: newest?.id ?? "" });
    expect(await codeOf(b.client.webhooks.redeliver.mutate({ deliveryId: newest?.id ?? "" }))).toBe("NOT_FOUND");
    hooks.received.length = 0;
    expect(await dispatch()).toMatchObject({ sent: 1 });
    expect(hooks.received).toHaveLength(1);
    const [again] = (await a.client.webhooks.deliveries.list.query({ webhookId: id })).items;
    expect(again).toMatchObject({ status: "sent", attempts: 1 });
    const [after] = (await a.client.webhooks.list.query()).filter((w) => w.id === id);
    expect(after).toMatchObject({ enabled: true, consecutiveDead: 0 });
    await a.client.webhooks.delete.mutate({ id });
  });
});

describe("webhook dispatchers racing", () => {
  it("two dispatchers over 40 deliveries post each exactly once", async () => {
    const { id } = await a.client.webhooks.create.mutate({ url: hooks.url, events: ["project.created"] });
    for (let i = 0; i < 40; i++) await a.client.projects.create.mutate({ name: `Raced ${i}` });
    hooks.received.length = 0;
    for (let round = 0; round < 20; round++) {
      const results = await Promise.all([dispatch({ batch: 7 }), dispatch({ batch: 7 })]);
      if (results.every((result) => result.sent + result.retried + result.dead === 0)) break;
    }
    const ids = hooks.received.map((request) => String(request.headers["webhook-id"]));
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
    await a.client.webhooks.delete.mutate({ id });
  });
});

describe("webhook targets (SSRF)", () => {
  let strict: TestApp;
  beforeAll(async () => {
    strict = await createTestApp({ db: t.db });
  });
  afterAll(() => strict.close());

  it("knows which addresses are private, in both families and their IPv4-in-IPv6 forms", () => {
    for (const address of [
      "127.0.0.1",
      "10.1.2.3",
      "172.31.255.255",
      "192.168.0.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "::1",
      "::",
      "fe80::1",
      "fd00::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "64:ff9b::10.0.0.1",
      "not an address",
    ]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"]) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
  });

  it("refuses to save a URL that is plainly this server's network, or not https", async () => {
    const client = strict.client(a.session);
    for (const url of [
      "http://example.com/hooks",
      "https://127.0.0.1/hooks",
      "https://localhost/hooks",
      "https://[::1]/hooks",
      "https://169.254.169.254/latest/meta-data",
      "https://10.0.0.8/hooks",
      "https://[::ffff:127.0.0.1]/hooks",
      "https://user:pass@example.com/hooks",
      "not a url",
    ]) {
      expect(await codeOf(client.webhooks.create.mutate({ url, events: ["task.created"] })), url).toBe("BAD_REQUEST");
    }
    const fine = await client.webhooks.create.mutate({ url: "https://hooks.example.com/in", events: ["task.created"] });
    await client.webhooks.delete.mutate({ id: fine.id });
  });

  it("refuses at connection time a name that resolves to a loopback address, and never reaches it", async () => {
    // This machine's own name, which /etc/hosts resolves to a loopback address: a URL that passes
    // every check of its text. Saved where private targets are allowed (as an earlier setting
    // would, or a DNS answer that changed since).
    const name = hostname();
    expect(isPrivateAddress((await lookup(name)).address)).toBe(true);
    const { id } = await a.client.webhooks.create.mutate({
      url: `http://${name}:${hooks.port}/hooks`,
      events: ["project.created"],
    });
    await a.client.projects.create.mutate({ name: "Rebound" });
    hooks.received.length = 0;
    expect(await dispatch({ allowPrivateTargets: false })).toMatchObject({ sent: 0, retried: 1 });
    expect(hooks.received).toHaveLength(0);
    const [delivery] = (await a.client.webhooks.deliveries.list.query({ webhookId: id })).items;
    expect(delivery?.lastError).toMatch(/private or loopback/);
    expect(delivery?.lastStatus).toBeNull();
    await a.client.webhooks.delete.mutate({ id });
  });
});
