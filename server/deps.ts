import type { MiddlewareHandler } from "hono";
import type { Database } from "../db/types.js";
import type { KeyBudget } from "./auth/api-keys.js";
import type { TokenService } from "./auth/tokens.js";
import type { AppConfig } from "./config.js";
import type { EventHub } from "./events/hub.js";
import type { RequestObserver } from "./observability/access-log.js";

/** Where time comes from; tests move it to expire tokens and invitations. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * Password hashing, injected so each runtime brings its own implementation (native argon2 on
 * Node). Implementations must hash off the event loop and produce a PHC string.
 */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error";
const severity: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** JSON lines on stdout (info) and stderr (warn, error); lines below `level` are not written. */
export function createConsoleLogger(level: LogLevel = "info"): Logger {
  const line = (at: LogLevel, message: string, fields?: Record<string, unknown>) =>
    JSON.stringify({ level: at, time: new Date().toISOString(), message, ...fields });
  const off = () => {};
  return {
    info: severity.info >= severity[level] ? (message, fields) => console.log(line("info", message, fields)) : off,
    warn: severity.warn >= severity[level] ? (message, fields) => console.warn(line("warn", message, fields)) : off,
    error: (message, fields) => console.error(line("error", message, fields)),
  };
}

export const consoleLogger: Logger = createConsoleLogger("info");

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/** Everything `createApp` needs; entry points and tests build it. */
export interface AppDeps {
  /**
   * The database, or where each request finds it: Workers give every invocation its own client
   * (a socket cannot outlive the request that opened it), while the app itself — and its
   * verified-token cache — lives as long as the isolate.
   */
  database: Database | ((env: unknown) => Database);
  config: AppConfig;
  hasher: PasswordHasher;
  /** Verifies access tokens and remembers the verified ones; built from `config` when absent. */
  tokens?: TokenService;
  clock?: Clock;
  logger?: Logger;
  /** Serves a web app's files for GET requests no API route answered (WEB_DIST on Node). */
  webApp?: MiddlewareHandler;
  /** Metrics to feed and serve at `/metrics` (Node: prom-client, `server/observability/metrics.ts`). */
  metrics?: RequestObserver & { response(): Promise<Response> };
  /**
   * Calls `done` once a request's response has been sent, with the bytes it put on the wire;
   * false when the runtime cannot tell (the access log then writes at the handler's return).
   */
  whenSent?: (env: unknown, done: (bytes: number | null) => void) => boolean;
  /** The live event streams' hub; built from `config.events` when absent (node.ts closes its own at shutdown). */
  events?: EventHub;
  /** This server's share of its API keys' request budgets; built from the config when absent. */
  keyBudget?: KeyBudget;
  /** The peer address of a request, when the runtime knows it (Node's socket, Workers' header). */
  peerAddress?: (request: Request, env: unknown) => string | undefined;
}
