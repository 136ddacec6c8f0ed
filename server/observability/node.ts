import type { HttpBindings } from "@hono/node-server";

/**
 * The access log's end of a request on Node (`AppDeps.whenSent`): once the response is closed,
 * the bytes its socket sent for it — status line, headers and body (a socket carries one
 * response at a time).
 */
export function responseSent(env: unknown, done: (bytes: number | null) => void): boolean {
  const outgoing = (env as Partial<HttpBindings> | undefined)?.outgoing;
  const socket = outgoing?.socket;
  if (!outgoing || !socket) return false;
  const before = socket.bytesWritten;
  outgoing.once("close", () => done(socket.bytesWritten - before));
  return true;
}
