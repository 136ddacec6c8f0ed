/**
 * The event hub's bounds, without a database: a stalled client's stream is cut and one that
 * reads is not, shutdown cuts every stream, and the caps and wake-ups count right.
 */
import { describe, expect, it } from "vitest";
import type { Database } from "../db/types.js";
import { EventHub } from "../server/events/hub.js";
import { RecordingLogger } from "./helpers/app.js";

const options = { pollMs: 60_000, maxPerUser: 2, maxPerTenant: 3, stallMs: 200 };
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const noDatabase = {} as Database;
const logger = new RecordingLogger();

/** A body that always has another chunk, as a busy stream has (ping or events). */
function endless(): { body: ReadableStream<Uint8Array>; produced: () => number } {
  let produced = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        produced++;
        controller.enqueue(new TextEncoder().encode(`data: ${produced}\n\n`));
      },
    },
    { highWaterMark: 0 },
  );
  return { body, produced: () => produced };
}

describe("EventHub", () => {
  it("cuts a stream whose client takes nothing for stallMs, holding one chunk meanwhile", async () => {
    const hub = new EventHub(options);
    const source = endless();
    const reader = hub.cutOffStalled(source.body).getReader();
    await reader.read();
    await pause(400);
    // Nothing was produced past the chunk waiting for the client.
    expect(source.produced()).toBeLessThanOrEqual(3);
    await reader.read().catch(() => undefined);
    await expect(reader.read()).rejects.toThrow(/took nothing for 200 ms/);
  });

  it("never cuts a client that keeps reading", async () => {
    const hub = new EventHub(options);
    const reader = hub.cutOffStalled(endless().body).getReader();
    const until = Date.now() + 600;
    let chunks = 0;
    while (Date.now() < until) {
      await reader.read();
      chunks++;
      await pause(50);
    }
    expect(chunks).toBeGreaterThan(5);
    await reader.cancel();
  });

  it("close() cuts every stream and ends every loop", async () => {
    const hub = new EventHub(options);
    const reader = hub.cutOffStalled(endless().body).getReader();
    const stream = hub.open(noDatabase, { tenantId: "t1", userId: "u1" }, undefined, logger);
    const waiting = stream.wait();
    await hub.close();
    await waiting;
    expect(stream.ended).toBe(true);
    let error: unknown;
    for (let i = 0; i < 3 && !error; i++) await reader.read().catch((e: unknown) => (error = e));
    expect(String(error)).toMatch(/shutting down/);
    expect(() => hub.open(noDatabase, { tenantId: "t1", userId: "u2" }, undefined, logger)).toThrow(/shutting down/);
  });

  it("caps streams per user and per tenant, frees them on close, and wakes only the tenant named", async () => {
    const hub = new EventHub(options);
    const open = (tenantId: string, userId: string) => hub.open(noDatabase, { tenantId, userId }, undefined, logger);
    const first = open("t1", "u1");
    open("t1", "u1");
    expect(() => open("t1", "u1")).toThrow(/At most 2 live streams per user/);
    const third = open("t1", "u2");
    expect(() => open("t1", "u3")).toThrow(/At most 3 live streams per workspace/);
    const elsewhere = open("t2", "u1");
    expect(hub.streams).toBe(4);
    first.close();
    first.close();
    expect(hub.streams).toBe(3);
    open("t1", "u3");

    let woken = "";
    void third.wait().then(() => (woken += "t1"));
    void elsewhere.wait().then(() => (woken += "t2"));
    hub.wake("t2");
    await pause(10);
    expect(woken).toBe("t2");
    // A wake-up while a stream is reading is kept for its next wait.
    hub.wake("t1");
    await pause(10);
    expect(woken).toBe("t2t1");
    hub.wake("t1");
    await third.wait();
    await hub.close();
  });
});
