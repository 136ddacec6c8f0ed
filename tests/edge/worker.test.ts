/**
 * The bundled Worker (dist/worker/index.js, built by `npm run build:worker`) in Miniflare —
 * workerd, `nodejs_compat`, no outside network — against the local PostgreSQL, through
 * @bulkhead/client. A Node app on the same database checks that passwords cross runtimes.
 */
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BulkheadClient, createBulkheadClient, errorCode } from "../../client/src/index.js";
import { rowsOf } from "../../db/types.js";
import { createArgon2Hasher } from "../../server/auth/argon2.js";
import { createTestApp, signedIn, type TestApp, testEncryptionKey, testSecret } from "../helpers/app.js";
import { openTestDatabase, type TestDatabase } from "../helpers/db.js";
import { codeFor } from "../helpers/mfa.js";
import { SoftAuthenticator } from "../helpers/webauthn.js";

const password = "a password for both runtimes";
let db: TestDatabase;
let mf: Miniflare;
let node: TestApp;

let workerUrl: string;
// Over real HTTP to workerd: Miniflare's dispatchFetch streams request bodies, and undici then
// fails on every 401 ("expected non-null body source"); a plain fetch with a string body does not.
const worker = (): BulkheadClient => createBulkheadClient({ url: workerUrl });

const registration = (slug: string) => ({
  tenant: { name: slug, slug },
  owner: { email: `owner@${slug}.example`, password, name: "Owner" },
});

beforeAll(async () => {
  db = await openTestDatabase();
  mf = new Miniflare({
    modules: true,
    // argon2.wasm beside the bundle, compiled by workerd as wrangler.toml's rule says.
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    scriptPath: fileURLToPath(new URL("../../dist/worker/index.js", import.meta.url)),
    compatibilityDate: "2025-09-01",
    compatibilityFlags: ["nodejs_compat"],
    cf: false, // no outside network here: do not fetch the request.cf data
    bindings: {
      DATABASE_URL: db.url ?? "",
      JWT_SECRET: testSecret,
      ENCRYPTION_KEY: testEncryptionKey,
      NODE_ENV: "production",
      DATABASE_PREPARE: "false",
      REFRESH_TOKEN_REUSE_SECONDS: "1",
    },
  });
  workerUrl = new URL("/trpc", await mf.ready).toString();
  // The same ENCRYPTION_KEY as the Worker's: a second factor set up on one verifies on the other.
  node = await createTestApp({ db, hasher: createArgon2Hasher(), env: { ENCRYPTION_KEY: testEncryptionKey } });
});
afterAll(async () => {
  await mf?.dispose();
  await db?.close();
});

describe("the Worker in workerd (Miniflare)", () => {
  it("answers health on PostgreSQL", async () => {
    expect(await worker().health.query()).toEqual({ status: "ok", database: "postgres" });
  });

  it("registers, logs in, creates and lists, refuses another tenant's id, and refreshes", async () => {
    const suffix = Date.now().toString(36);
    const a = worker();
    const started = performance.now();
    const session = await a.auth.registerTenant.mutate(registration(`edge-a-${suffix}`));
    const registerMs = performance.now() - started;
    expect(session.user.role).toBe("owner");

    const loginStarted = performance.now();
    const login = signedIn(
      await worker().auth.login.mutate({
        tenantSlug: `edge-a-${suffix}`,
        email: session.user.email,
        password,
      }),
    );
    const loginMs = performance.now() - loginStarted;
    expect(login.tenant.id).toBe(session.tenant.id);
    console.log(
      `edge: registration ${registerMs.toFixed(0)} ms, login ${loginMs.toFixed(0)} ms through the Worker (argon2id m=19456,t=2,p=1 in WebAssembly)`,
    );

    const project = await a.projects.create.mutate({ name: "From the edge" });
    expect((await a.projects.list.query({})).items.map((p) => p.id)).toEqual([project.id]);

    const b = worker();
    await b.auth.registerTenant.mutate(registration(`edge-b-${suffix}`));
    expect(errorCode(await b.projects.get.query({ id: project.id }).catch((e: unknown) => e))).toBe("NOT_FOUND");
    expect((await b.projects.list.query({})).items).toEqual([]);

    const refreshed = await worker().auth.refresh.mutate({ refreshToken: login.refreshToken });
    expect(refreshed.refreshToken).not.toBe(login.refreshToken);
    // Another tab at once: the same rotated token (an HMAC in workerd's Web Crypto); after the
    // reuse window (1 s here), a replay is theft.
    const tab = await worker().auth.refresh.mutate({ refreshToken: login.refreshToken });
    expect(tab.refreshToken).toBe(refreshed.refreshToken);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(
      errorCode(
        await worker()
          .auth.refresh.mutate({ refreshToken: login.refreshToken })
          .catch((e: unknown) => e),
      ),
    ).toBe("UNAUTHORIZED");
  });

  it("serves the REST face to an API key made on the Node server", async () => {
    const suffix = Date.now().toString(36);
    const owner = await node.client().auth.registerTenant.mutate(registration(`edge-rest-${suffix}`));
    const { key } = await node.client(owner).apiKeys.create.mutate({ name: "edge", role: "member" });
    const rest = (path: string, init: RequestInit = {}) =>
      fetch(new URL(`/api/v1${path}`, workerUrl), {
        ...init,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      });
    const created = await rest("/projects", { method: "POST", body: JSON.stringify({ name: "From the edge" }) });
    expect(created.status).toBe(200);
    const project = (await created.json()) as { id: string; createdAt: string };
    expect(project.createdAt).toMatch(/Z$/);
    const listed = (await (await rest("/projects")).json()) as { items: { id: string }[] };
    expect(listed.items.map((item) => item.id)).toEqual([project.id]);
    expect((await fetch(new URL("/api/v1/openapi.json", workerUrl))).status).toBe(200);
  });

  it("a password set through the Node server logs in through the Worker, and the reverse", async () => {
    const suffix = Date.now().toString(36);
    const viaNode = await node.client().auth.registerTenant.mutate(registration(`edge-node-${suffix}`));
    const atEdge = signedIn(
      await worker().auth.login.mutate({
        tenantSlug: `edge-node-${suffix}`,
        email: viaNode.user.email,
        password,
      }),
    );
    expect(atEdge.user.id).toBe(viaNode.user.id);

    const viaWorker = await worker().auth.registerTenant.mutate(registration(`edge-worker-${suffix}`));
    const onNode = signedIn(
      await node
        .client()
        .auth.login.mutate({ tenantSlug: `edge-worker-${suffix}`, email: viaWorker.user.email, password }),
    );
    expect(onNode.user.id).toBe(viaWorker.user.id);

    expect(
      errorCode(
        await worker()
          .auth.login.mutate({
            tenantSlug: `edge-node-${suffix}`,
            email: viaNode.user.email,
            password: "the wrong password",
          })
          .catch((e: unknown) => e),
      ),
    ).toBe("UNAUTHORIZED");
  });

  it("verifies a TOTP code and a passkey set up on the Node server, and the reverse", async () => {
    const suffix = Date.now().toString(36);
    const owner = await node.client().auth.registerTenant.mutate(registration(`edge-mfa-${suffix}`));
    const onNode = node.client(owner);
    // Real time on both sides (the Worker has no test clock): confirm with now's code, then the
    // next step's code is the one a later sign-in may use.
    const { secret } = await onNode.auth.mfa.totp.enroll.mutate();
    await onNode.auth.mfa.totp.confirm.mutate({ code: codeFor(secret, new Date()) });
    const device = new SoftAuthenticator("http://localhost:5173");
    await onNode.auth.passkeys.register.mutate({
      response: device.register(await onNode.auth.passkeys.registerOptions.mutate()),
      name: "Node",
    });

    const challenge = async () => {
      const answer = await worker().auth.login.mutate({
        tenantSlug: `edge-mfa-${suffix}`,
        email: owner.user.email,
        password,
      });
      if (!("mfaRequired" in answer)) throw new Error("expected a challenge");
      return answer;
    };
    const first = await challenge();
    expect(first.methods).toEqual(["totp", "recovery_code", "passkey"]);
    const viaCode = signedIn(
      await worker().auth.mfa.verify.mutate({ challenge: first.challenge, code: codeFor(secret, new Date(), 1) }),
    );
    expect(viaCode.user.id).toBe(owner.user.id);
    const second = await challenge();
    const passkeyResponse = device.authenticate(second.passkeyOptions ?? { challenge: "" });
    expect(
      signedIn(await worker().auth.mfa.verify.mutate({ challenge: second.challenge, passkeyResponse })).user.id,
    ).toBe(owner.user.id);
    const options = await worker().auth.passkeys.loginOptions.mutate({ tenantSlug: `edge-mfa-${suffix}` });
    expect(
      signedIn(await worker().auth.passkeys.login.mutate({ response: device.authenticate(options) })).user.id,
    ).toBe(owner.user.id);

    // The reverse: set up through the Worker, verified on Node.
    const other = await worker().auth.registerTenant.mutate(registration(`edge-mfa-w-${suffix}`));
    const atEdge = createBulkheadClient({ url: workerUrl, session: other });
    const enrolled = await atEdge.auth.mfa.totp.enroll.mutate();
    await atEdge.auth.mfa.totp.confirm.mutate({ code: codeFor(enrolled.secret, new Date()) });
    const answer = await node
      .client()
      .auth.login.mutate({ tenantSlug: `edge-mfa-w-${suffix}`, email: other.user.email, password });
    if (!("mfaRequired" in answer)) throw new Error("expected a challenge");
    const back = signedIn(
      await node
        .client()
        .auth.mfa.verify.mutate({ challenge: answer.challenge, code: codeFor(enrolled.secret, new Date(), 1) }),
    );
    expect(back.user.id).toBe(other.user.id);
  });

  it("prunes expired rows from its Cron Trigger, and keeps live ones", async () => {
    const suffix = Date.now().toString(36);
    const owner = await node.client().auth.registerTenant.mutate(registration(`edge-cron-${suffix}`));
    const insert = (label: string, offset: string) =>
      db.admin.execute(sql`
        insert into refresh_tokens (tenant_id, user_id, family_id, token_hash, expires_at)
        values (${owner.tenant.id}, ${owner.user.id}, gen_random_uuid(), ${`${label}-${suffix}`}, now() + ${offset}::interval)`);
    await insert("expired", "-1 minute");
    await insert("live", "1 day");

    // Miniflare's Fetcher runs the Worker's `scheduled` handler (its types omit the method).
    const fetcher = (await mf.getWorker()) as unknown as {
      scheduled(options: { cron: string }): Promise<{ outcome: string }>;
    };
    const result = await fetcher.scheduled({ cron: "17 * * * *" });
    expect(result.outcome).toBe("ok");
    const left = rowsOf<{ token_hash: string }>(
      await db.admin.execute(sql`select token_hash from refresh_tokens where token_hash like ${`%-${suffix}`}`),
    ).map((row) => row.token_hash);
    expect(left).toEqual([`live-${suffix}`]);
    // The owner's own session is live: still signed in through the Worker.
    expect(await createBulkheadClient({ url: workerUrl, session: owner }).auth.me.query()).toMatchObject({
      user: { id: owner.user.id },
    });
  });
});
