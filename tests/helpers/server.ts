import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  url: string;
}

/**
 * Starts `server/node.ts` as a real process with the given environment, with the V8 flag
 * `npm start` gives it (`--max-semi-space-size=2`), so its memory is what `npm start`'s is.
 */
export function startServer(env: Record<string, string>, port: number): ServerProcess {
  const child = spawn(process.execPath, ["--max-semi-space-size=2", "--import", "tsx", "server/node.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: String(port), JWT_SECRET: "s".repeat(40), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited, url: `http://127.0.0.1:${port}` };
}

/** Polls until `url` answers 200, the process exits, or ~60 s pass. */
export async function waitUntilReady(server: ServerProcess): Promise<boolean> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (server.child.exitCode !== null) return false;
    const ok = await fetch(`${server.url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** Polls until the server's output contains `text`, the process exits, or ~30 s pass. */
export async function waitForOutput(server: ServerProcess, text: string): Promise<void> {
  for (let attempt = 0; attempt < 300 && !server.output().includes(text); attempt++) {
    if (server.child.exitCode !== null) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A port unlikely to collide across parallel test files, below Linux's ephemeral range (32768
 * and up, `ip_local_port_range`): there the local end of any outgoing connection — to
 * PostgreSQL, say — may hold the port, which failed a CI run with EADDRINUSE on 33058. The port
 * after it (a metrics port) stays below the range too.
 */
export const testPort = () => 20_000 + Math.floor(Math.random() * 12_000);
