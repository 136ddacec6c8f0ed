/**
 * What a server's live event streams share: who holds how many (the per-user and per-tenant
 * caps), the one LISTEN that wakes them when their tenant's events commit, and the way out at
 * shutdown. A stream reads its events itself, under RLS, in its subscriber's context
 * (server/routers/events.ts); the hub never carries an event, only "tenant T may have news", so
 * a bug here can delay an event or wake the wrong stream, never show a stream another tenant's.
 */
import { TRPCError } from "@trpc/server";
import type { Database } from "../../db/types.js";
import { eventsChannel } from "../audit.js";
import type { Logger } from "../deps.js";
import { loggedError } from "../errors.js";

export interface EventHubOptions {
  /** How long a stream waits for a wake-up before it reads anyway: a lost NOTIFY only delays. */
  pollMs: number;
  maxPerUser: number;
  maxPerTenant: number;
  /** How long a client may take nothing while its stream has data waiting, before it is cut. */
  stallMs: number;
}

/** One open stream, as its reading loop sees it. */
export interface EventStream {
  /** Resolves at a wake-up for its tenant, after `pollMs`, or once the stream must end. */
  wait(): Promise<void>;
  /** The client went away, or the server is shutting down: read no more. */
  readonly ended: boolean;
  /** Gives its slot back; called once, when the stream's loop ends. */
  close(): void;
}

interface Waiter {
  pending: boolean;
  wake: (() => void) | null;
}

export class EventHub {
  private readonly perUser = new Map<string, number>();
  private readonly perTenant = new Map<string, Set<Waiter>>();
  private readonly bodies = new Set<(reason: Error) => void>();
  private listening: Promise<(() => Promise<void>) | null> | undefined;
  private closed = false;

  constructor(private readonly options: EventHubOptions) {}

  /** Open streams on this server. */
  get streams(): number {
    let open = 0;
    for (const waiters of this.perTenant.values()) open += waiters.size;
    return open;
  }

  /**
   * Takes a slot for a stream of `member`, or refuses with TOO_MANY_REQUESTS past a cap. The
   * first stream also starts the LISTEN on `database` (where it can listen).
   */
  open(
    database: Database,
    member: { tenantId: string; userId: string },
    signal: AbortSignal | undefined,
    logger: Logger,
  ): EventStream {
    if (this.closed) throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "The server is shutting down" });
    const { maxPerUser, maxPerTenant, pollMs } = this.options;
    const userKey = `${member.tenantId}:${member.userId}`;
    const held = this.perUser.get(userKey) ?? 0;
    const waiters = this.perTenant.get(member.tenantId) ?? new Set<Waiter>();
    if (held >= maxPerUser) {
      throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: `At most ${maxPerUser} live streams per user` });
    }
    if (waiters.size >= maxPerTenant) {
      throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: `At most ${maxPerTenant} live streams per workspace` });
    }
    this.listen(database, logger);
    const waiter: Waiter = { pending: false, wake: null };
    this.perUser.set(userKey, held + 1);
    waiters.add(waiter);
    this.perTenant.set(member.tenantId, waiters);
    const onAbort = () => waiter.wake?.();
    signal?.addEventListener("abort", onAbort);
    let open = true;
    const hub = this;
    return {
      get ended() {
        return !open || hub.closed || signal?.aborted === true;
      },
      wait() {
        if (waiter.pending || this.ended) {
          waiter.pending = false;
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          const timer = setTimeout(done, pollMs);
          function done() {
            clearTimeout(timer);
            waiter.wake = null;
            waiter.pending = false;
            resolve();
          }
          waiter.wake = done;
        });
      },
      close() {
        if (!open) return;
        open = false;
        signal?.removeEventListener("abort", onAbort);
        waiter.wake?.();
        waiters.delete(waiter);
        if (waiters.size === 0) hub.perTenant.delete(member.tenantId);
        const left = (hub.perUser.get(userKey) ?? 1) - 1;
        if (left > 0) hub.perUser.set(userKey, left);
        else hub.perUser.delete(userKey);
      },
    };
  }

  /** Wakes the streams of `tenantId` (a notification says its events changed). */
  wake(tenantId: string): void {
    for (const waiter of this.perTenant.get(tenantId) ?? []) {
      if (waiter.wake) waiter.wake();
      else waiter.pending = true;
    }
  }

  /**
   * An SSE response body that errors once its client has taken nothing for `stallMs` while a
   * chunk waits for it (a slow or stalled consumer: it resumes by id), and at `close()`. It
   * holds at most one chunk; the stream behind it is produced only as the client reads.
   */
  cutOffStalled(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    const { stallMs } = this.options;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let cut: ((reason: Error) => void) | undefined;
    const finish = () => {
      clearTimeout(timer);
      if (cut) this.bodies.delete(cut);
    };
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          cut = (reason) => {
            finish();
            controller.error(reason);
            void reader.cancel(reason).catch(() => undefined);
          };
          this.bodies.add(cut);
        },
        async pull(controller) {
          clearTimeout(timer);
          const { done, value } = await reader.read();
          if (done) {
            finish();
            controller.close();
            return;
          }
          controller.enqueue(value);
          // The queue is full: the client must take this chunk within stallMs.
          if ((controller.desiredSize ?? 0) <= 0) {
            timer = setTimeout(() => cut?.(new Error(`the client took nothing for ${stallMs} ms`)), stallMs);
          }
        },
        cancel(reason) {
          finish();
          return reader.cancel(reason);
        },
      },
      { highWaterMark: 1 },
    );
  }

  /**
   * Shutdown: cuts every stream's response (its client reconnects, elsewhere, from its last id),
   * ends the loops and stops listening.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const cut of [...this.bodies]) cut(new Error("the server is shutting down"));
    for (const tenantId of [...this.perTenant.keys()]) this.wake(tenantId);
    const stop = await this.listening?.catch(() => null);
    this.listening = undefined;
    await stop?.().catch(() => undefined);
  }

  private listen(database: Database, logger: Logger): void {
    if (this.listening || !database.listen) return;
    this.listening = database
      .listen(eventsChannel, (tenantId) => this.wake(tenantId))
      .catch((error: unknown) => {
        // Streams still poll; the next stream opened tries again.
        logger.warn("listening for events failed; live streams poll until it works", { ...loggedError(error) });
        this.listening = undefined;
        return null;
      });
  }
}
