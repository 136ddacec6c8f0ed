import { createServer, type Socket, connect as tcpConnect } from "node:net";

/** A loopback TCP proxy a test can cut, freeze and restore, standing in for a database going away. */
export interface TcpProxy {
  port: number;
  /** Closes every open connection and stops listening: new connections are refused. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  /**
   * A partition: every connection stays open and nothing passes either way, new ones included
   * (accepted, never answered), until `thaw()`.
   */
  freeze(): void;
  /** Lets everything held since `freeze()` pass again. */
  thaw(): void;
  /** Client connections open now. */
  readonly open: number;
  /** Client connections the client closed while the proxy was frozen. */
  readonly closedWhileFrozen: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  /** Every open socket, and where its bytes go. */
  const peers = new Map<Socket, Socket>();
  const clients = new Set<Socket>();
  const held: (() => void)[] = [];
  let frozen = false;
  let closedWhileFrozen = 0;

  /**
   * Holds what `from` sends while frozen: read (so a close is still seen) and kept, then written
   * to `to` in order at `thaw()`.
   */
  const hold = (from: Socket, to: Socket) => {
    from.unpipe(to);
    const kept: Buffer[] = [];
    const keep = (chunk: Buffer) => kept.push(chunk);
    from.on("data", keep);
    from.resume();
    held.push(() => {
      from.off("data", keep);
      for (const chunk of kept) to.write(chunk);
      from.pipe(to);
    });
  };
  const forward = (from: Socket, to: Socket) => (frozen ? hold(from, to) : from.pipe(to));

  const server = createServer((client) => {
    const upstream = tcpConnect(target.port, target.host);
    clients.add(client);
    client.on("close", () => {
      clients.delete(client);
      if (frozen) closedWhileFrozen++;
    });
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      peers.set(from, to);
      forward(from, to);
      from.on("error", () => to.destroy());
      from.on("close", () => {
        peers.delete(from);
        to.destroy();
      });
    }
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(0);
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("the proxy has no port");
  const port = address.port;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of peers.keys()) socket.destroy();
    });
  return {
    port,
    cut: stop,
    restore: () => listen(port),
    freeze() {
      if (frozen) return;
      frozen = true;
      for (const [from, to] of peers) hold(from, to);
    },
    thaw() {
      frozen = false;
      for (const resume of held.splice(0)) resume();
    },
    get open() {
      return clients.size;
    },
    get closedWhileFrozen() {
      return closedWhileFrozen;
    },
    close: () => (server.listening ? stop() : Promise.resolve()),
  };
}
