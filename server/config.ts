import { decodeBase64IgnorePadding } from "@oslojs/encoding";
import { z } from "zod";
import type { EncryptionConfig } from "./auth/encryption.js";

const booleanString = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((value) => value === "true" || value === "1" || value === "yes");

const signingKey = z.object({ kid: z.string().min(1), secret: z.string().min(1) });
export type SigningKey = z.infer<typeof signingKey>;

/** `kid:secret,kid:secret` — keys that still verify tokens after a rotation. */
const previousKeys = z.string().transform((value, ctx) => {
  const keys: SigningKey[] = [];
  for (const part of value
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const colon = part.indexOf(":");
    if (colon <= 0) {
      ctx.addIssue({ code: "custom", message: "expected kid:secret pairs separated by commas" });
      return z.NEVER;
    }
    keys.push({ kid: part.slice(0, colon), secret: part.slice(colon + 1) });
  }
  return keys;
});

/**
 * `https://app.example.com,http://localhost:5173` — the origins a browser may call from with
 * credentials. Each must be exactly an origin (scheme, host, optional port): never `*`, a path or
 * a trailing slash, so that what is compared is what the browser sends in `Origin`.
 */
const originList = z.string().transform((value, ctx) => {
  const origins: string[] = [];
  for (const part of value
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    let origin: string | null = null;
    try {
      const url = new URL(part);
      if ((url.protocol === "https:" || url.protocol === "http:") && url.origin === part) origin = url.origin;
    } catch {}
    if (!origin) {
      ctx.addIssue({
        code: "custom",
        message: `"${part}" is not an origin like https://app.example.com (no *, path or /)`,
      });
      return z.NEVER;
    }
    origins.push(origin);
  }
  return origins;
});

/** Every setting Bulkhead reads, with its default; parsed from env vars or Worker bindings. */
export const configSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default("0.0.0.0"),
  DATABASE_URL: z.string().url().optional(),
  DATABASE_MIGRATION_URL: z.string().url().optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(1000).default(10),
  DATABASE_PREPARE: booleanString.default(true),
  /** A connection that cannot be had within this fails its request with 503 and Retry-After. */
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(2000),
  PGLITE_DATA_DIR: z.string().default("./.data/pglite"),
  MIGRATE_ON_START: booleanString.default(false),
  STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(5000),
  JWT_SECRET: z.string().optional(),
  JWT_KEY_ID: z.string().min(1).default("k1"),
  JWT_PREVIOUS_KEYS: previousKeys.optional(),
  /** 32 random bytes, base64 (`openssl rand -base64 32`): encrypts second-factor secrets. */
  ENCRYPTION_KEY: z.string().optional(),
  ENCRYPTION_KEY_ID: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9_-]+$/)
    .default("e1"),
  /** `kid:base64,kid:base64` — keys that still decrypt after a rotation. */
  ENCRYPTION_PREVIOUS_KEYS: previousKeys.optional(),
  /** How long a second-factor challenge from `auth.login` may be answered. */
  MFA_CHALLENGE_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(300),
  JWT_ISSUER: z.string().min(1).default("bulkhead"),
  JWT_AUDIENCE: z.string().min(1).default("bulkhead-api"),
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(900),
  REFRESH_TOKEN_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  /** How long a just-rotated refresh token still answers with the same rotated session (0: never). */
  REFRESH_TOKEN_REUSE_SECONDS: z.coerce.number().int().min(0).max(60).default(10),
  /** Origins allowed to call with credentials (CORS and the session cookie's CSRF check). */
  CORS_ORIGINS: originList.default([]),
  CORS_MAX_AGE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(600),
  BASE_DOMAIN: z.string().min(1).optional(),
  TRUST_PROXY: booleanString.default(false),
  /** How many proxies of ours append to X-Forwarded-For: the client is the N-th entry from the right. */
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(1).max(10).default(1),
  /** Failed logins per (account, client address) and window. */
  LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).default(5),
  /** Failed logins per account from all addresses together: caps distributed guessing. */
  LOGIN_ACCOUNT_MAX_FAILURES: z.coerce.number().int().min(1).default(100),
  /** Failed logins per client address across all accounts: caps password spraying. */
  LOGIN_ADDRESS_MAX_FAILURES: z.coerce.number().int().min(1).default(20),
  LOGIN_WINDOW_SECONDS: z.coerce.number().int().min(1).default(900),
  /** Password hashes (argon2id) the process runs at once; more wait in line, 64 at most, then 429. */
  PASSWORD_HASHING_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  SIGNUP_MAX_PER_ADDRESS: z.coerce.number().int().min(1).default(20),
  SIGNUP_WINDOW_SECONDS: z.coerce.number().int().min(1).default(3600),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  PRUNE_INTERVAL_SECONDS: z.coerce.number().int().min(0).default(3600),
  /** The product's name in mail, and where its web app lives: the links in mail point there. */
  APP_NAME: z.string().min(1).max(100).default("Bulkhead"),
  APP_URL: z.string().url().default("http://localhost:5173"),
  /** Mail goes out by SMTP (`smtp://user:pass@host:587`, `smtps://…`); unset: files in MAIL_DIR. */
  SMTP_URL: z.string().url().optional(),
  MAIL_FROM: z.string().min(3).default("Bulkhead <no-reply@localhost>"),
  MAIL_DIR: z.string().default("./.data/mail"),
  /** The file mailbox's log line shows each message's link (a live token) in development only; `false` hides it there too. */
  MAIL_LOG_LINKS: booleanString.default(true),
  /** How often this process's dispatcher looks for due messages; 0: it runs none. */
  OUTBOX_POLL_MS: z.coerce.number().int().min(0).max(600_000).default(1000),
  /** Sends a message may take before it is dead; retries back off exponentially from 5 s. */
  OUTBOX_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
  /** How long a claimed message is a dispatcher's before another may take it over. */
  OUTBOX_LEASE_SECONDS: z.coerce.number().int().min(5).max(3600).default(120),
  EMAIL_VERIFICATION_TTL_HOURS: z.coerce.number().int().min(1).max(720).default(48),
  /** Verification mails a member may ask for again, per window (PASSWORD_RESET_WINDOW_SECONDS). */
  EMAIL_VERIFICATION_MAX_RESENDS: z.coerce.number().int().min(1).default(3),
  PASSWORD_RESET_TTL_MINUTES: z.coerce.number().int().min(5).max(1440).default(30),
  /** Password reset requests per address and window, and per account and window. */
  PASSWORD_RESET_MAX_PER_ADDRESS: z.coerce.number().int().min(1).default(10),
  PASSWORD_RESET_MAX_PER_ACCOUNT: z.coerce.number().int().min(1).default(3),
  PASSWORD_RESET_WINDOW_SECONDS: z.coerce.number().int().min(1).default(3600),
  /** A built web app (`npm run build:web` writes examples/web/dist) that the Node server serves at `/`. */
  WEB_DIST: z.string().min(1).optional(),
  /** Days between `tenant.scheduleDeletion` and the erase; the workspace is read-only meanwhile. */
  TENANT_DELETION_GRACE_DAYS: z.coerce.number().int().min(0).max(365).default(7),
  /** Days an erased workspace's slug stays taken, so nobody else claims a name its users know. */
  TENANT_SLUG_RESERVED_DAYS: z.coerce.number().int().min(0).max(3650).default(90),
  /** An export whose client takes no data for this long is ended (its transaction with it). */
  EXPORT_STALL_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  /** An export still running this long after it began is ended, however fast its client reads. */
  EXPORT_MAX_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
  /**
   * Past its first EXPORT_STALL_SECONDS, an export whose client has taken less than this many
   * bytes a second on average is ended.
   */
  EXPORT_MIN_BYTES_PER_SECOND: z.coerce.number().int().min(1).default(131_072),
  /** On PGlite an export is read into a temporary file first, of at most this many MiB. */
  EXPORT_SPOOL_MAX_MB: z.coerce.number().int().min(1).max(1_048_576).default(1024),
  /** Audit events older than this many days are pruned; unset: kept forever. */
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).optional(),
  /** Change events older than this many days are pruned (a stream resumes at most this far back). */
  EVENT_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(7),
  /**
   * A direct PostgreSQL connection (not through PgBouncer in transaction mode) for LISTEN, which
   * wakes live streams; default DATABASE_URL. Without one that works, streams still poll.
   */
  DATABASE_LISTEN_URL: z.string().url().optional(),
  /** Live event streams one user may hold open at once; past it, TOO_MANY_REQUESTS. */
  EVENTS_MAX_STREAMS_PER_USER: z.coerce.number().int().min(1).max(100_000).default(5),
  /** Live event streams one workspace may hold open at once on one server. */
  EVENTS_MAX_STREAMS_PER_TENANT: z.coerce.number().int().min(1).max(100_000).default(200),
  /** How often a stream reads without a notification: a lost NOTIFY delays, never drops. */
  EVENTS_POLL_MS: z.coerce.number().int().min(100).max(60_000).default(2000),
  /** A stream whose client takes nothing for this long while events wait is cut (it resumes by id). */
  EVENTS_STALL_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  /** Requests one workspace API key may make in a minute, across every server instance; past it, 429. */
  API_KEY_REQUESTS_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(600),
  /** Webhook retries back off exponentially from this (5 s, 10 s, 20 s, …). */
  WEBHOOK_RETRY_BASE_SECONDS: z.coerce.number().int().min(1).max(3600).default(5),
  /** Attempts a delivery gets before it is dead: 15 from 5 s span about a day. */
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(30).default(15),
  /** An endpoint is disabled (and its admins mailed) after this many dead deliveries in a row. */
  WEBHOOK_DISABLE_AFTER: z.coerce.number().int().min(1).max(1000).default(5),
  /** How long an endpoint has to answer a delivery. */
  WEBHOOK_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(60).default(10),
  /** How often this process's webhook dispatcher looks for due deliveries; 0: it runs none. */
  WEBHOOK_POLL_MS: z.coerce.number().int().min(0).max(600_000).default(1000),
  /**
   * Deliver to loopback and private addresses, and over plain http (development and tests
   * only): off, a webhook URL that is or resolves to one is refused, at every connection.
   */
  WEBHOOK_ALLOW_PRIVATE: booleanString.default(false),
  /** The least severe log line written: `info` includes one access-log line per request. */
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /** Requests slower than this get a `slow request` warning besides their access-log line. */
  SLOW_REQUEST_MS: z.coerce.number().int().min(1).default(1000),
  /** `GET /metrics` on the API's port answers only `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: z.string().min(16, "METRICS_TOKEN must be at least 16 characters").optional(),
  /** Serve `/metrics` on this port of its own (METRICS_HOST, default 127.0.0.1), not the API's. */
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  METRICS_HOST: z.string().default("127.0.0.1"),
});

export type RawConfig = z.infer<typeof configSchema>;

/** The settings the app itself needs (database and listener settings stay with the entry point). */
export interface AppConfig {
  encryption: EncryptionConfig;
  mfa: { challengeTtlSeconds: number };
  jwt: {
    issuer: string;
    audience: string;
    current: SigningKey;
    previous: SigningKey[];
    accessTokenTtlSeconds: number;
  };
  refreshTokenTtlDays: number;
  /** Seconds in which a spent refresh token returns the session it was rotated into. */
  refreshTokenReuseSeconds: number;
  /** Browser access: the allowed origins, and whether a `Secure`-less cookie may be set for localhost. */
  browser: {
    origins: string[];
    /** The web app's own origin (APP_URL's): a page there may use cookie mode without being in CORS_ORIGINS. */
    ownOrigin: string;
    corsMaxAgeSeconds: number;
    allowInsecureLocalhost: boolean;
  };
  statementTimeoutMs: number;
  baseDomain?: string;
  /** When set, the client address is this many entries from the right of X-Forwarded-For. */
  trustedProxyHops: number | null;
  login: { maxFailures: number; accountMaxFailures: number; addressMaxFailures: number; windowSeconds: number };
  /** Registrations, and failed invitation acceptances, per client address and window. */
  signup: { maxPerAddress: number; windowSeconds: number };
  hashing: { concurrency: number; maxWaiting: number };
  /** What mail says and links to. */
  mail: { appName: string; appUrl: string };
  passwordReset: { ttlMinutes: number; maxPerAddress: number; maxPerAccount: number; windowSeconds: number };
  emailVerification: { ttlHours: number; maxResends: number; windowSeconds: number };
  /** How long a scheduled deletion waits. */
  tenantDeletionGraceDays: number;
  /**
   * How long an export waits for its client to take the next chunk (`stallMs`), may run at all
   * (`maxMs`), the least its client must take on average (`minBytesPerSecond`), and the largest
   * spool an engine with one connection may read it into (`spoolMaxBytes`).
   */
  export: { stallMs: number; maxMs: number; minBytesPerSecond: number; spoolMaxBytes: number };
  /**
   * Live event streams: how often they read without a wake-up, how many a user and a workspace
   * may hold, and how long a client may take nothing before its stream is cut.
   */
  events: { pollMs: number; maxPerUser: number; maxPerTenant: number; stallMs: number };
  /** Workspace API keys: the request budget of each, per minute. */
  apiKeys: { requestsPerMinute: number };
  /** Webhooks: whether private and loopback targets (and plain http) are allowed (development, tests). */
  webhooks: { allowPrivateTargets: boolean };
  /** Access-log threshold, and who may scrape `/metrics` on the API's port (null: nobody there). */
  observability: { slowRequestMs: number; metricsToken: string | null };
}

/** The longest throttle window (login, sign-up): pruning drops counters older than it. */
export const longestThrottleWindowSeconds = (
  raw: Pick<RawConfig, "LOGIN_WINDOW_SECONDS" | "SIGNUP_WINDOW_SECONDS" | "PASSWORD_RESET_WINDOW_SECONDS">,
) => Math.max(raw.LOGIN_WINDOW_SECONDS, raw.SIGNUP_WINDOW_SECONDS, raw.PASSWORD_RESET_WINDOW_SECONDS);

/** Thrown for invalid configuration; its message names each bad variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Parses env-like key/value pairs (process.env or Worker bindings). */
export function parseConfig(source: Record<string, unknown>): RawConfig {
  const result = configSchema.safeParse(
    Object.fromEntries(Object.entries(source).filter(([, value]) => value !== "" && value !== undefined)),
  );
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  - ${issue.path.join(".")}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return result.data;
}

/** An AES-256 key from its base64, or a ConfigError naming the setting. */
function aesKey(value: string, setting: string): Uint8Array {
  let key: Uint8Array | null = null;
  try {
    key = decodeBase64IgnorePadding(value.trim());
  } catch {
    key = null;
  }
  if (key?.length !== 32) {
    throw new ConfigError(`${setting} must be 32 random bytes in base64 (e.g. \`openssl rand -base64 32\`)`);
  }
  return key;
}

/** ENCRYPTION_KEY is required in production; development derives one from the JWT secret. */
function encryptionConfig(raw: RawConfig): EncryptionConfig {
  if (!raw.ENCRYPTION_KEY && raw.NODE_ENV === "production") {
    throw new ConfigError("ENCRYPTION_KEY must be set in production (e.g. `openssl rand -base64 32`)");
  }
  return {
    current: {
      kid: raw.ENCRYPTION_KEY_ID,
      key: raw.ENCRYPTION_KEY ? aesKey(raw.ENCRYPTION_KEY, "ENCRYPTION_KEY") : null,
    },
    previous: (raw.ENCRYPTION_PREVIOUS_KEYS ?? []).map(({ kid, secret }) => ({
      kid,
      key: aesKey(secret, `ENCRYPTION_PREVIOUS_KEYS ("${kid}")`),
    })),
  };
}

/** Minimum JWT secret length in bytes (HS256 wants at least the hash size). */
export const minSecretBytes = 32;

/** Builds the app's config from parsed settings and a signing secret the caller resolved. */
export function toAppConfig(raw: RawConfig, secret: string): AppConfig {
  if (new TextEncoder().encode(secret).length < minSecretBytes) {
    throw new ConfigError(`JWT_SECRET must be at least ${minSecretBytes} bytes`);
  }
  // A verification key is as strong as its signing key was: a short previous key would let a
  // brute-forced secret sign tokens.
  for (const key of raw.JWT_PREVIOUS_KEYS ?? []) {
    if (new TextEncoder().encode(key.secret).length < minSecretBytes) {
      throw new ConfigError(`JWT_PREVIOUS_KEYS: the key "${key.kid}" must be at least ${minSecretBytes} bytes`);
    }
  }
  return {
    encryption: encryptionConfig(raw),
    mfa: { challengeTtlSeconds: raw.MFA_CHALLENGE_TTL_SECONDS },
    jwt: {
      issuer: raw.JWT_ISSUER,
      audience: raw.JWT_AUDIENCE,
      current: { kid: raw.JWT_KEY_ID, secret },
      previous: raw.JWT_PREVIOUS_KEYS ?? [],
      accessTokenTtlSeconds: raw.ACCESS_TOKEN_TTL_SECONDS,
    },
    refreshTokenTtlDays: raw.REFRESH_TOKEN_TTL_DAYS,
    refreshTokenReuseSeconds: raw.REFRESH_TOKEN_REUSE_SECONDS,
    browser: {
      origins: raw.CORS_ORIGINS,
      ownOrigin: new URL(raw.APP_URL).origin,
      corsMaxAgeSeconds: raw.CORS_MAX_AGE_SECONDS,
      allowInsecureLocalhost: raw.NODE_ENV !== "production",
    },
    statementTimeoutMs: raw.STATEMENT_TIMEOUT_MS,
    ...(raw.BASE_DOMAIN ? { baseDomain: raw.BASE_DOMAIN } : {}),
    trustedProxyHops: raw.TRUST_PROXY ? raw.TRUSTED_PROXY_HOPS : null,
    login: {
      maxFailures: raw.LOGIN_MAX_FAILURES,
      accountMaxFailures: raw.LOGIN_ACCOUNT_MAX_FAILURES,
      addressMaxFailures: raw.LOGIN_ADDRESS_MAX_FAILURES,
      windowSeconds: raw.LOGIN_WINDOW_SECONDS,
    },
    signup: { maxPerAddress: raw.SIGNUP_MAX_PER_ADDRESS, windowSeconds: raw.SIGNUP_WINDOW_SECONDS },
    hashing: { concurrency: raw.PASSWORD_HASHING_CONCURRENCY, maxWaiting: 64 },
    mail: { appName: raw.APP_NAME, appUrl: raw.APP_URL.replace(/\/+$/, "") },
    emailVerification: {
      ttlHours: raw.EMAIL_VERIFICATION_TTL_HOURS,
      maxResends: raw.EMAIL_VERIFICATION_MAX_RESENDS,
      windowSeconds: raw.PASSWORD_RESET_WINDOW_SECONDS,
    },
    tenantDeletionGraceDays: raw.TENANT_DELETION_GRACE_DAYS,
    export: {
      stallMs: raw.EXPORT_STALL_SECONDS * 1000,
      maxMs: raw.EXPORT_MAX_SECONDS * 1000,
      minBytesPerSecond: raw.EXPORT_MIN_BYTES_PER_SECOND,
      spoolMaxBytes: raw.EXPORT_SPOOL_MAX_MB * 1024 * 1024,
    },
    events: {
      pollMs: raw.EVENTS_POLL_MS,
      maxPerUser: raw.EVENTS_MAX_STREAMS_PER_USER,
      maxPerTenant: raw.EVENTS_MAX_STREAMS_PER_TENANT,
      stallMs: raw.EVENTS_STALL_SECONDS * 1000,
    },
    webhooks: { allowPrivateTargets: raw.WEBHOOK_ALLOW_PRIVATE },
    apiKeys: { requestsPerMinute: raw.API_KEY_REQUESTS_PER_MINUTE },
    observability: {
      slowRequestMs: raw.SLOW_REQUEST_MS,
      metricsToken: raw.METRICS_PORT ? null : (raw.METRICS_TOKEN ?? null),
    },
    passwordReset: {
      ttlMinutes: raw.PASSWORD_RESET_TTL_MINUTES,
      maxPerAddress: raw.PASSWORD_RESET_MAX_PER_ADDRESS,
      maxPerAccount: raw.PASSWORD_RESET_MAX_PER_ACCOUNT,
      windowSeconds: raw.PASSWORD_RESET_WINDOW_SECONDS,
    },
  };
}
