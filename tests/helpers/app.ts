import { threadId } from "node:worker_threads";
import { EventSource } from "eventsource";
import {
  type BulkheadClient,
  createBulkheadClient,
  type MfaChallenge,
  type Session,
  type SessionTokens,
} from "../../client/src/index.js";
import { createApp } from "../../server/app.js";
import { KeyBudget } from "../../server/auth/api-keys.js";
import { createArgon2Hasher } from "../../server/auth/argon2.js";
import { browserSessionOf } from "../../server/auth/browser.js";
import { Encryption } from "../../server/auth/encryption.js";
import { TokenService } from "../../server/auth/tokens.js";
import { type AppConfig, parseConfig, toAppConfig } from "../../server/config.js";
import { createContextInner } from "../../server/context.js";
import type { Clock, Logger, PasswordHasher } from "../../server/deps.js";
import { EventHub } from "../../server/events/hub.js";
import { createMetrics } from "../../server/observability/metrics.js";
import { openTestDatabase, type TestDatabase } from "./db.js";

export const testSecret = "test-secret-that-is-long-enough-for-hs256-0123456789";

/** A clock tests can move forward. */
export class TestClock implements Clock {
  offsetMs = 0;
  now() {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number) {
    this.offsetMs += ms;
  }
}

/** Records what the app logs, so tests can assert on it. */
export class RecordingLogger implements Logger {
  readonly entries: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  info(message: string, fields?: Record<string, unknown>) {
    this.entries.push({ level: "info", message, ...(fields ? { fields } : {}) });
  }
  warn(message: string, fields?: Record<string, unknown>) {
    this.entries.push({ level: "warn", message, ...(fields ? { fields } : {}) });
  }
  error(message: string, fields?: Record<string, unknown>) {
    this.entries.push({ level: "error", message, ...(fields ? { fields } : {}) });
  }
}

/** Real argon2id, at a low cost so suites stay fast; the auth suite checks the production cost. */
export const fastHasher = createArgon2Hasher({ memoryCost: 1024, timeCost: 1 });

/** A hasher counting its work: how many passwords an attack got verified or hashed. */
export class CountingHasher implements PasswordHasher {
  verifications = 0;
  hashes = 0;
  constructor(private readonly inner: PasswordHasher = fastHasher) {}
  hash(value: string) {
    this.hashes++;
    return this.inner.hash(value);
  }
  verify(hash: string, value: string) {
    this.verifications++;
    return this.inner.verify(hash, value);
  }
}

export interface TestAppOptions {
  hasher?: PasswordHasher;
  env?: Record<string, string>;
  peerAddress?: string;
  /** Reuse an open database (a second app instance on the same data). */
  db?: TestDatabase;
  /** Keep Prometheus metrics (`app.metrics`), served at /metrics when env has METRICS_TOKEN. */
  metrics?: boolean;
}

let slugCounter = 0;
/** A unique slug for a test tenant. */
export const uniqueSlug = (prefix = "t") =>
  `${prefix}-${process.pid}-${threadId}-${Date.now().toString(36)}-${slugCounter++}`;

export const password = "correct horse battery staple";

/** An ENCRYPTION_KEY for tests that run as production (which refuses to start without one). */
export const testEncryptionKey = Buffer.alloc(32, 7).toString("base64");

/** A bearer-mode session: its refresh token is in the body. */
export type BearerSession = Session & { refreshToken: string };

/**
 * The session of a bearer-mode response; throws if the refresh token is missing, or if a login
 * answered with a second-factor challenge.
 */
export function bearerSession(answer: Session | MfaChallenge): BearerSession {
  const session = signedIn(answer);
  if (typeof session.refreshToken !== "string") throw new Error("a bearer-mode session came without its refresh token");
  return session as BearerSession;
}

/** A login's session; throws if it asked for a second factor instead. */
export function signedIn<T extends object>(result: T | MfaChallenge): T {
  if ("mfaRequired" in result) throw new Error("the login asked for a second factor");
  return result;
}

export interface TenantHandle {
  session: BearerSession;
  client: BulkheadClient;
  tenantId: string;
  userId: string;
  slug: string;
}

/**
 * A migrated database, the app on it, and typed clients that call it in-process through the
 * whole HTTP stack (`fetch` → `app.fetch`). Every response body is kept in `bodies`.
 */
export async function createTestApp(options: TestAppOptions = {}) {
  const db = options.db ?? (await openTestDatabase());
  const clock = new TestClock();
  const logger = new RecordingLogger();
  const hasher = options.hasher ?? fastHasher;
  const raw = parseConfig({ NODE_ENV: "test", ...options.env });
  const config = toAppConfig(raw, testSecret);
  const metrics = options.metrics ? createMetrics(db.database) : undefined;
  const events = new EventHub(config.events);
  const keyBudget = new KeyBudget(config);
  const app = createApp({
    events,
    keyBudget,
    database: db.database,
    config,
    hasher,
    clock,
    logger,
    ...(metrics ? { metrics } : {}),
    ...(options.peerAddress ? { peerAddress: () => options.peerAddress } : {}),
  });
  const bodies: string[] = [];

  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await app.fetch(new Request(input, init));
    // A live stream's body never ends by itself: tests read it through the client.
    if (!response.headers.get("content-type")?.startsWith("text/event-stream")) {
      bodies.push(await response.clone().text());
    }
    return response;
  };

  const client = (session?: SessionTokens | null, headers?: Record<string, string>, apiKey?: string) =>
    createBulkheadClient({
      url: "http://bulkhead.test/trpc",
      fetch,
      EventSource,
      ...(session ? { session } : {}),
      ...(headers ? { headers } : {}),
      ...(apiKey ? { apiKey } : {}),
    });

  /** A client that calls with a workspace API key. */
  const keyClient = (apiKey: string, headers?: Record<string, string>) => client(null, headers, apiKey);

  /** Registers a tenant with an owner and returns the owner's signed-in client. */
  const registerTenant = async (name = "Tenant", slug = uniqueSlug()): Promise<TenantHandle> => {
    const anonymous = client();
    const session = bearerSession(
      await anonymous.auth.registerTenant.mutate({
        tenant: { name, slug },
        owner: { email: `owner@${slug}.test`, password, name: `${name} Owner` },
      }),
    );
    return { session, client: anonymous, tenantId: session.tenant.id, userId: session.user.id, slug };
  };

  /** Invites and signs in a new member of `owner`'s tenant with the given role. */
  const addMember = async (owner: TenantHandle, role: "admin" | "member", email?: string): Promise<TenantHandle> => {
    const address = email ?? `${role}-${slugCounter++}@${owner.slug}.test`;
    const invite = await owner.client.members.invite.mutate({ email: address, role });
    const member = client();
    const session = bearerSession(
      await member.auth.acceptInvite.mutate({ token: invite.token, name: `A ${role}`, password }),
    );
    return { session, client: member, tenantId: session.tenant.id, userId: session.user.id, slug: owner.slug };
  };

  /**
   * The inner context of a request bearing `accessToken`, for calling throwaway routers built from
   * the real procedures with `createCallerFactory` (what a procedure does after its middleware).
   */
  const requestContext = (accessToken: string, overrides: { config?: AppConfig } = {}) => {
    const used = overrides.config ?? config;
    const resHeaders = new Headers();
    return createContextInner({
      database: db.database,
      config: used,
      hasher,
      tokens: new TokenService(used.jwt, clock),
      encryption: new Encryption(used.encryption, used.jwt.current.secret),
      clock,
      logger,
      dummyPasswordHash: () => hasher.hash("unused"),
      requestId: "test",
      accessToken,
      tenantHint: null,
      clientAddress: null,
      userAgent: null,
      resHeaders,
      browser: browserSessionOf(new Request("http://localhost/trpc"), used, resHeaders),
      facts: { tenantId: null, userId: null, failures: new Map() },
      events,
      keyBudget: new KeyBudget(used),
    });
  };

  return {
    ...db,
    db,
    app,
    requestContext,
    config,
    clock,
    logger,
    hasher,
    metrics,
    bodies,
    fetch,
    client,
    keyClient,
    keyBudget,
    registerTenant,
    addMember,
    events,
    close: async () => {
      await events.close();
      if (!options.db) await db.close();
    },
  };
}

export type TestApp = Awaited<ReturnType<typeof createTestApp>>;

/** The session (`sid`) a member's access token names. */
export function sessionOf(who: TenantHandle): string {
  const payload = who.session.accessToken.split(".")[1] ?? "";
  return (JSON.parse(Buffer.from(payload, "base64url").toString()) as { sid: string }).sid;
}

/** The tRPC error code a promise rejects with. */

export async function codeOf(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
    return null;
  } catch (error) {
    const data = (error as { data?: { code?: string } }).data;
    return data?.code ?? `not a tRPC error: ${String(error)}`;
  }
}

/** A test app with two registered tenants, Alpha and Beta: the shape of most isolation tests. */
export async function createTwoTenants(options: TestAppOptions = {}) {
  const t = await createTestApp(options);
  const a = await t.registerTenant("Alpha");
  const b = await t.registerTenant("Beta");
  return { t, a, b };
}

/** One HTTP request carrying one call of `path` per input, as tRPC batches them: each call's error code, or null. */
export async function batchedCalls(app: TestApp, path: string, inputs: unknown[]) {
  const body = Object.fromEntries(inputs.map((input, i) => [i, { json: input }]));
  const response = await app.app.request(`/trpc/${inputs.map(() => path).join(",")}?batch=1`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const results = (await response.json()) as { error?: { json: { data: { code: string } } } }[];
  return {
    status: response.status,
    codes: results.map((item) => item.error?.json.data.code ?? null),
    retryAfter: response.headers.get("retry-after"),
  };
}
