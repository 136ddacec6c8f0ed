/**
 * Workspace API keys: `bhk_<key id><tenant id>_<secret>`, each id 32 hex digits, the secret 256
 * random bits (base64url). Only a SHA-256 of the secret is stored: for a random secret of that
 * size a slow hash buys nothing (docs/decisions/025-api-keys-beside-members.md). A key is a
 * principal of its own: `app.enter_member` checks its hash, revocation and expiry in the first
 * statement of every request it makes, so it reaches the tenant's rows only as a member would.
 *
 * Its request budget (API_KEY_REQUESTS_PER_MINUTE) is counted in PostgreSQL, shared by every
 * server, in slices (`KeyBudget`, docs/decisions/026-api-key-budget-in-slices.md).
 */
import { sql } from "drizzle-orm";
import { withoutTenant } from "../../db/tenant.js";
import { type Db, rowsOf } from "../../db/types.js";
import type { AppConfig } from "../config.js";
import { type Throttle, takeAttempt } from "./throttle.js";
import { randomSecret, sha256Hex } from "./tokens.js";

/** What an API key's bearer string names. */
export interface ParsedApiKey {
  keyId: string;
  tenantId: string;
  secret: string;
}

const apiKeyPattern = /^bhk_([0-9a-f]{32})([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

/** Whether a bearer credential is meant as an API key (it may still be malformed). */
export const isApiKey = (token: string) => token.startsWith("bhk_");

const hex = (uuid: string) => uuid.replaceAll("-", "");
const uuidOf = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;

/** Splits an API key, or null when it is not one. */
export function parseApiKey(token: string): ParsedApiKey | null {
  const match = apiKeyPattern.exec(token);
  if (!match?.[1] || !match[2] || !match[3]) return null;
  return { keyId: uuidOf(match[1]), tenantId: uuidOf(match[2]), secret: match[3] };
}

/** A new key of `tenantId`: the string shown once, and what is stored of it. */
export async function makeApiKey(tenantId: string) {
  const id = crypto.randomUUID();
  const secret = randomSecret();
  const key = `bhk_${hex(id)}${hex(tenantId)}_${secret}`;
  return { id, key, prefix: key.slice(0, 12), secretHash: await sha256Hex(secret) };
}

/** The key's budget as one request's response headers report it. */
export interface BudgetState {
  limit: number;
  remaining: number;
  resetSeconds: number;
}

/** Thrown when a key has spent its minute's budget: 429 with Retry-After. */
export class BudgetSpent extends Error {
  constructor(readonly state: BudgetState) {
    super("API key request budget spent");
    this.name = "BudgetSpent";
  }
}

/** Thrown when an address has failed too many key lookups: 429 with Retry-After. */
export class LookupsThrottled extends Error {
  constructor(readonly waitSeconds: number) {
    super("too many failed API key lookups");
    this.name = "LookupsThrottled";
  }
}

/** Thrown for a key that is unknown, revoked, expired or carries the wrong secret. */
export class UnknownKey extends Error {
  constructor() {
    super("unknown API key");
    this.name = "UnknownKey";
  }
}

interface Slice {
  /** Requests this server may still make with the key in the current minute. */
  left: number;
  /** What PostgreSQL granted when the slice was taken: 0 when the minute's budget was spent. */
  granted: number;
  /** The minute's use across every server when the slice was taken, the slice included. */
  used: number;
  /** When the minute ends, on this server's clock (ms). */
  endsAt: number;
}

/**
 * One server's view of its keys' budgets. A request spends from the slice this server holds;
 * only when it is empty (or its minute is over) does the server take another from PostgreSQL
 * (`app.api_key_take`: one statement, which also looks the key up), so a busy key costs one
 * write per slice, not per request. Slices of one key are taken one at a time per server.
 * Failed lookups count against the address like failed logins.
 */
export class KeyBudget {
  readonly #slices = new Map<string, Slice>();
  readonly #taking = new Map<string, Promise<Slice>>();
  /** Addresses refused for failed lookups, until (ms): saves the database the next ones. */
  readonly #blocked = new Map<string, number>();
  readonly #limit: number;
  readonly #sliceSize: number;
  /** Requests spent, and slices taken from PostgreSQL (each one statement, one write). */
  readonly stats = { spent: 0, takes: 0 };

  constructor(
    private readonly config: Pick<AppConfig, "apiKeys" | "login">,
    private readonly now: () => number = Date.now,
  ) {
    this.#limit = config.apiKeys.requestsPerMinute;
    // A twentieth of the minute's budget: few writes, and little left unused on one server.
    this.#sliceSize = Math.max(1, Math.ceil(this.#limit / 20));
  }

  /**
   * Spends one request of the key's budget, or throws `BudgetSpent`, `UnknownKey` (after
   * counting the failure against `address`) or `LookupsThrottled`.
   */
  async spend(db: Db, key: ParsedApiKey & { hash: string }, address: string | null): Promise<BudgetState> {
    const id = `${key.keyId}\u0000${key.hash}`;
    for (;;) {
      const now = this.now();
      const slice = this.#slices.get(id);
      if (slice && slice.endsAt > now) {
        const resetSeconds = Math.max(1, Math.ceil((slice.endsAt - now) / 1000));
        if (slice.left > 0) {
          slice.left--;
          this.stats.spent++;
          return { limit: this.#limit, remaining: this.#limit - slice.used + slice.left, resetSeconds };
        }
        if (slice.used >= this.#limit) throw new BudgetSpent({ limit: this.#limit, remaining: 0, resetSeconds });
      }
      let taking = this.#taking.get(id);
      if (!taking) {
        taking = this.#take(db, key, address).finally(() => this.#taking.delete(id));
        this.#taking.set(id, taking);
      }
      const taken = await taking;
      this.#slices.set(id, taken);
      // Every request that waited for this slice tries it again; only an empty grant is a refusal.
      if (taken.granted === 0) {
        const resetSeconds = Math.max(1, Math.ceil((taken.endsAt - this.now()) / 1000));
        throw new BudgetSpent({ limit: this.#limit, remaining: 0, resetSeconds });
      }
    }
  }

  async #take(db: Db, key: ParsedApiKey & { hash: string }, address: string | null): Promise<Slice> {
    this.#forgetExpired();
    const blockedUntil = address ? this.#blocked.get(address) : undefined;
    if (blockedUntil !== undefined) {
      if (blockedUntil > this.now()) throw new LookupsThrottled(Math.ceil((blockedUntil - this.now()) / 1000));
      this.#blocked.delete(address as string);
    }
    this.stats.takes++;
    const result = await db.execute(
      sql`select p_granted as granted, p_used as used, p_reset_ms as reset_ms from app.api_key_take(${key.tenantId}::uuid, ${key.keyId}::uuid, ${key.hash}::text, ${this.#sliceSize}::integer, ${this.#limit}::integer)`,
    );
    const row = rowsOf<{ granted: number | null; used: number | null; reset_ms: number | string }>(result)[0];
    if (!row || row.granted === null || row.used === null) {
      await this.#failed(db, address);
      throw new UnknownKey();
    }
    const granted = Number(row.granted);
    return { left: granted, granted, used: Number(row.used), endsAt: this.now() + Number(row.reset_ms) };
  }

  /** A failed lookup counts against the address; past the login limit, it is refused for the window. */
  async #failed(db: Db, address: string | null) {
    if (!address) return;
    const throttle: Throttle = {
      keys: [await sha256Hex(`api key\u0000${address}`)],
      limits: [this.config.login.addressMaxFailures],
      windowSeconds: this.config.login.windowSeconds,
      clearOnSuccess: [],
    };
    const wait = await withoutTenant(db, (tx) => takeAttempt(tx, throttle));
    if (wait > 0) {
      this.#blocked.set(address, this.now() + wait * 1000);
      throw new LookupsThrottled(wait);
    }
  }

  /** Slices of minutes gone by: a server's map holds only the keys used this minute. */
  #forgetExpired() {
    if (this.#slices.size < 1000 && this.#blocked.size < 1000) return;
    const now = this.now();
    for (const [id, slice] of this.#slices) if (slice.endsAt <= now) this.#slices.delete(id);
    for (const [address, until] of this.#blocked) if (until <= now) this.#blocked.delete(address);
  }
}

/** The IETF draft's RateLimit headers (draft-ietf-httpapi-ratelimit-headers), and Retry-After when spent. */
export function budgetHeaders(headers: Headers, state: BudgetState, spent: boolean) {
  headers.set("RateLimit-Policy", `${state.limit};w=60`);
  headers.set("RateLimit-Limit", String(state.limit));
  headers.set("RateLimit-Remaining", String(Math.max(0, state.remaining)));
  headers.set("RateLimit-Reset", String(state.resetSeconds));
  if (spent) headers.set("Retry-After", String(state.resetSeconds));
}
