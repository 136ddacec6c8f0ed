import type { BulkheadClient } from "../../client/src/index.js";
import { errorCode } from "../../client/src/index.js";
import type { ChangeEventRecord } from "../../server/routers/events.js";

/** A live subscription a test holds: what it got, and how it ended. */
export interface Watch {
  readonly events: ChangeEventRecord[];
  /** The event ids, as the stream tracked them. */
  readonly ids: string[];
  /** Resolves with the tRPC code the stream ended with (null: completed). */
  readonly ended: Promise<string | null>;
  /** Waits (at most `timeoutMs`) until `count` events arrived; returns them all. */
  until(count: number, timeoutMs?: number): Promise<ChangeEventRecord[]>;
  stop(): void;
}

/**
 * Subscribes `client` to `events.onChange`, from the tenant's head (`events.head`) unless a
 * `lastEventId` is given, so nothing committed after this returns is missed.
 */
export async function watch(
  client: BulkheadClient,
  input: { projectId?: string; lastEventId?: string } = {},
): Promise<Watch> {
  const from = input.lastEventId ?? (await client.events.head.query()).lastEventId;
  const events: ChangeEventRecord[] = [];
  const ids: string[] = [];
  let wake: (() => void) | undefined;
  let end: (code: string | null) => void = () => {};
  const ended = new Promise<string | null>((resolve) => {
    end = resolve;
  });
  let finished = false;
  let stop = () => {};
  const started = new Promise<void>((resolve, reject) => {
    const subscription = client.events.onChange.subscribe(
      { ...input, lastEventId: from },
      {
        onStarted: () => resolve(),
        onData: (event) => {
          ids.push(event.id);
          events.push(event.data);
          wake?.();
        },
        onError: (error) => {
          finished = true;
          end(errorCode(error) ?? "UNKNOWN");
          reject(error);
          wake?.();
        },
        onComplete: () => {
          finished = true;
          end(null);
          wake?.();
        },
      },
    );
    stop = () => subscription.unsubscribe();
  });
  await started;
  return {
    events,
    ids,
    ended,
    stop: () => stop(),
    async until(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < count && !finished && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.max(1, Math.min(100, deadline - Date.now())));
        });
      }
      return events;
    },
  };
}
