/**
 * Delivers webhooks: claims due deliveries of every tenant (`app.webhook_claim`, a lease, as the
 * outbox's dispatcher does), posts each to its endpoint signed as the Standard Webhooks spec says
 * (the `standardwebhooks` package: `webhook-id` the delivery's own, the same on every attempt;
 * `webhook-timestamp`; `webhook-signature` = `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`,
 * once per live secret), and settles it (`app.webhook_settle`): sent on a 2xx, else retried with
 * exponential backoff, dead after the last attempt. An endpoint disabled by its dead deliveries
 * has its workspace's admins mailed, through the outbox. No transaction is open while posting.
 */
import { sql } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { type Agent, request } from "undici";
import { users } from "../../db/schema.js";
import { withoutTenant, withTenant } from "../../db/tenant.js";
import { type Db, rowsOf } from "../../db/types.js";
import type { AppConfig } from "../config.js";
import type { Logger } from "../deps.js";
import { loggedError } from "../errors.js";
import { repeatPasses } from "../mail/dispatcher.js";
import { webhookDisabledMail } from "../mail/messages.js";
import { enqueueMail } from "../mail/outbox.js";
import { assertTarget, deliveryAgent } from "./targets.js";

export interface WebhookDispatchOptions {
  db: Db;
  logger: Logger;
  mail: AppConfig["mail"];
  /** Seconds of the first retry's wait; each next one doubles it (WEBHOOK_RETRY_BASE_SECONDS). */
  retryBaseSeconds: number;
  maxAttempts: number;
  /** Dead deliveries in a row that disable an endpoint. */
  disableAfter: number;
  timeoutMs: number;
  allowPrivateTargets: boolean;
  /** Deliveries claimed at a time. */
  batch?: number;
  leaseSeconds?: number;
}

export interface WebhookDispatchResult {
  sent: number;
  retried: number;
  dead: number;
  disabled: number;
}

interface Claimed {
  tenant_id: string;
  id: string;
  webhook_id: string;
  url: string;
  secret: string;
  previous_secret: string | null;
  payload: unknown;
  attempts: number;
  claim_id: string;
}

/** Seconds before attempt `n + 1`: base, 2 × base, 4 × base, … */
export const webhookBackoffSeconds = (base: number, attempts: number) => base * 2 ** Math.max(0, attempts - 1);

/** The headers of one attempt: its id, time and a signature per live secret. */
export function signedHeaders(
  delivery: { id: string; secret: string; previous_secret: string | null },
  body: string,
  at: Date,
) {
  const id = `msg_${delivery.id}`;
  const secrets = [delivery.secret, ...(delivery.previous_secret ? [delivery.previous_secret] : [])];
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": secrets.map((secret) => new Webhook(secret).sign(id, at, body)).join(" "),
  };
}

const agents = new Map<boolean, Agent>();

/** Posts one delivery; its HTTP status and null, or the status (if any) and why it failed. */
async function post(delivery: Claimed, options: WebhookDispatchOptions): Promise<[number | null, string | null]> {
  const body = JSON.stringify(delivery.payload);
  try {
    const url = new URL(delivery.url);
    assertTarget(url, options.allowPrivateTargets);
    let agent = agents.get(options.allowPrivateTargets);
    if (!agent) {
      agent = deliveryAgent(options.allowPrivateTargets);
      agents.set(options.allowPrivateTargets, agent);
    }
    const response = await request(url, {
      method: "POST",
      dispatcher: agent,
      headers: {
        "content-type": "application/json",
        "user-agent": "Bulkhead-Webhooks",
        ...signedHeaders(delivery, body, new Date()),
      },
      body,
      // Redirects are not followed: a 3xx is a failed attempt, so no endpoint sends us elsewhere.
      maxRedirections: 0,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    // Read at most what a short answer needs, then let the connection go.
    await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    const status = response.statusCode;
    return status >= 200 && status < 300 ? [status, null] : [status, `the endpoint answered HTTP ${status}`];
  } catch (failure) {
    const reason = failure instanceof Error ? failure.message : String(failure);
    return [null, reason.slice(0, 300)];
  }
}

/** One pass: claims up to `batch` due deliveries and settles each; returns what became of them. */
export async function dispatchWebhooksOnce(options: WebhookDispatchOptions): Promise<WebhookDispatchResult> {
  const { db, logger, batch = 20, leaseSeconds = 60 } = options;
  const claimed = await withoutTenant(db, async (tx) =>
    rowsOf<Claimed>(
      await tx.execute(sql`select * from app.webhook_claim(${batch}::integer, ${leaseSeconds}::integer)`),
    ),
  );
  const result: WebhookDispatchResult = { sent: 0, retried: 0, dead: 0, disabled: 0 };
  for (const delivery of claimed) {
    const [status, error] = await post(delivery, options);
    const retryAfter = webhookBackoffSeconds(options.retryBaseSeconds, delivery.attempts);
    const settled = await withoutTenant(db, async (tx) =>
      rowsOf<{ status: string | null }>(
        await tx.execute(
          sql`select app.webhook_settle(${delivery.tenant_id}::uuid, ${delivery.id}::uuid, ${delivery.claim_id}::uuid, ${status}::integer, ${error}, ${retryAfter}::integer, ${options.maxAttempts}::integer, ${options.disableAfter}::integer) as status`,
        ),
      ),
    );
    const outcome = settled[0]?.status ?? null;
    const fields = { id: delivery.id, webhookId: delivery.webhook_id, attempts: delivery.attempts, reason: error };
    if (outcome === "sent") result.sent++;
    else if (outcome === "pending") {
      result.retried++;
      logger.warn("webhook delivery failed; retrying", fields);
    } else if (outcome === "dead" || outcome === "disabled") {
      result.dead++;
      logger.error("webhook delivery is dead", fields);
      if (outcome === "disabled") {
        result.disabled++;
        logger.error("webhook endpoint disabled after dead deliveries in a row", { webhookId: delivery.webhook_id });
        await mailAdmins(db, options.mail, delivery).catch((failure: unknown) =>
          logger.error("mailing the admins of a disabled webhook failed", { ...loggedError(failure) }),
        );
      }
    }
  }
  return result;
}

/** Tells the workspace's admins and owners that an endpoint was disabled (through the outbox). */
async function mailAdmins(db: Db, mail: AppConfig["mail"], delivery: Claimed): Promise<void> {
  await withTenant(db, { tenantId: delivery.tenant_id, userId: null }, async (tx) => {
    const admins = await tx
      .select({ email: users.email, name: users.name, role: users.role })
      .from(users)
      .where(sql`${users.tenantId} = ${delivery.tenant_id}::uuid and ${users.role} in ('owner', 'admin')`);
    for (const admin of admins) {
      await enqueueMail(tx, delivery.tenant_id, webhookDisabledMail(mail, admin, new URL(delivery.url).host));
    }
  });
}

/** Runs `dispatchWebhooksOnce` every `intervalMs` (at once again while batches come back full). */
export function startWebhookDispatcher(options: WebhookDispatchOptions & { intervalMs: number }) {
  return repeatPasses(
    async () => {
      const result = await dispatchWebhooksOnce(options);
      return result.sent + result.retried + result.dead >= (options.batch ?? 20);
    },
    { intervalMs: options.intervalMs, logger: options.logger, failure: "webhook dispatch failed" },
  );
}
