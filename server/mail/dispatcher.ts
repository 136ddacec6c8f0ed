/**
 * Delivers the outbox: claims due messages of every tenant (`app.outbox_claim`: an UPDATE that
 * re-checks each claim as it takes the row, so dispatchers on several servers never take one
 * message twice, with no FOR UPDATE across shards), sends each, and
 * settles it (`app.outbox_settle`): sent, retried with exponential backoff, or dead after
 * `maxAttempts` with the reason. No transaction is open while a message is sent.
 */
import { sql } from "drizzle-orm";
import { withoutTenant } from "../../db/tenant.js";
import { type Db, rowsOf } from "../../db/types.js";
import type { Logger } from "../deps.js";
import { loggedError } from "../errors.js";
import type { Mail } from "./outbox.js";
import type { MailTransport } from "./transports.js";

export interface DispatchOptions {
  db: Db;
  transport: MailTransport;
  logger: Logger;
  /** Messages claimed at a time. */
  batch?: number;
  leaseSeconds: number;
  maxAttempts: number;
}

export interface DispatchResult {
  sent: number;
  retried: number;
  dead: number;
}

interface Claimed {
  tenant_id: string;
  id: string;
  kind: string;
  payload: Mail;
  attempts: number;
  claim_id: string;
}

/** Seconds before attempt `n + 1`: 5 s, 10 s, 20 s, … up to an hour. */
export const backoffSeconds = (attempts: number) => Math.min(3600, 5 * 2 ** Math.max(0, attempts - 1));

/** One pass: claims up to `batch` due messages and settles each; returns what became of them. */
export async function dispatchOnce(options: DispatchOptions): Promise<DispatchResult> {
  const { db, transport, logger, batch = 20, leaseSeconds, maxAttempts } = options;
  const claimed = await withoutTenant(db, async (tx) =>
    rowsOf<Claimed>(await tx.execute(sql`select * from app.outbox_claim(${batch}::integer, ${leaseSeconds}::integer)`)),
  );
  const result: DispatchResult = { sent: 0, retried: 0, dead: 0 };
  for (const message of claimed) {
    let error: string | null = null;
    try {
      if (message.kind !== "mail") throw new Error(`no transport for outbox messages of kind ${message.kind}`);
      await transport.send({ ...message.payload, id: message.id });
    } catch (failure) {
      error = failure instanceof Error ? failure.message : String(failure);
    }
    const status = await withoutTenant(db, async (tx) => {
      const settled = await tx.execute(
        sql`select app.outbox_settle(${message.tenant_id}::uuid, ${message.id}::uuid, ${message.claim_id}::uuid, ${error}, ${backoffSeconds(message.attempts)}::integer, ${maxAttempts}::integer) as status`,
      );
      return rowsOf<{ status: string | null }>(settled)[0]?.status ?? null;
    });
    if (status === "sent") result.sent++;
    else if (status === "dead") {
      result.dead++;
      logger.error("outbox message is dead", { id: message.id, attempts: message.attempts, reason: error });
    } else if (status === "pending") {
      result.retried++;
      logger.warn("outbox message failed; retrying", { id: message.id, attempts: message.attempts, reason: error });
    }
  }
  return result;
}

/** Runs `dispatchOnce` every `intervalMs` (at once again while batches come back full); `stop()` waits for the pass in flight. */
export function startDispatcher(options: DispatchOptions & { intervalMs: number }) {
  return repeatPasses(
    async () => {
      const result = await dispatchOnce(options);
      return result.sent + result.retried + result.dead >= (options.batch ?? 20);
    },
    { intervalMs: options.intervalMs, logger: options.logger, failure: "outbox dispatch failed" },
  );
}

/**
 * Runs `pass` every `intervalMs`, at once again while it says there is more (a full batch); a
 * failed pass is logged and the next one comes at the interval. `stop()` waits for the pass in
 * flight. The outbox's and the webhooks' dispatchers run on it.
 */
export function repeatPasses(
  pass: () => Promise<boolean>,
  options: { intervalMs: number; logger: Logger; failure: string },
) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const tick = () => {
    running = pass()
      .catch((error: unknown) => {
        options.logger.warn(options.failure, { ...loggedError(error) });
        return false;
      })
      .then((more) => {
        if (!stopped) timer = setTimeout(tick, more ? 0 : options.intervalMs);
      });
  };
  timer = setTimeout(tick, options.intervalMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
