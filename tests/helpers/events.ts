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

/**
 * What a live stream's response says within `ms`: it is read until it returns, or errors (its
 * serialized error's data line included), or `ms` pass, and then let go — a stream never ends by
 * itself. Any other response is read whole. `code` is the tRPC code of the stream's error, or null.
 */
export async function readStream(response: Response, ms: number): Promise<{ text: string; code: string | null }> {
  if (!response.headers.get("content-type")?.startsWith("text/event-stream")) {
    return { text: await response.text(), code: null };
  }
  const reader = response.body?.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const until = performance.now() + ms;
  while (reader && performance.now() < until && !/event: (serialized-error\ndata: .*\n|return\n)/.test(text)) {
    const chunk = await Promise.race([
      reader.read(),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), Math.max(1, until - performance.now()))),
    ]);
    if (!chunk || chunk.done) break;
    text += decoder.decode(chunk.value, { stream: true });
  }
  await reader?.cancel().catch(() => undefined);
  const error = /event: serialized-error\ndata: (.*)\n/.exec(text)?.[1];
  const code = error ? ((JSON.parse(error) as { json?: { data?: { code?: string } } }).json?.data?.code ?? null) : null;
  return { text, code };
}
