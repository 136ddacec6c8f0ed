import type { MiddlewareHandler } from "hono";
import type { Database } from "../db/types.js";
import type { TokenService } from "./auth/tokens.js";
import type { AppConfig } from "./config.js";

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

export const consoleLogger: Logger = {
  info: (message, fields) => console.log(JSON.stringify({ level: "info", message, ...fields })),
  warn: (message, fields) => console.warn(JSON.stringify({ level: "warn", message, ...fields })),
  error: (message, fields) => console.error(JSON.stringify({ level: "error", message, ...fields })),
};

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
  /** The peer address of a request, when the runtime knows it (Node's socket, Workers' header). */
  peerAddress?: (request: Request, env: unknown) => string | undefined;
}
