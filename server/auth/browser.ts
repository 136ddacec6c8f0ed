/**
 * Browser sessions: the refresh token in an HttpOnly cookie instead of a response body, chosen
 * per request by the client (`X-Bulkhead-Session: cookie`), never by a server-wide switch.
 * Decision 010 says why the cookie is shaped as it is.
 */
import { TRPCError } from "@trpc/server";
import { generateCookie } from "hono/cookie";
import { parse } from "hono/utils/cookie";
import type { AppConfig } from "../config.js";
import type { Session } from "./shapes.js";

/** The header a page sends to ask for cookie mode; a cross-site form cannot send it. */
export const sessionModeHeader = "x-bulkhead-session";
/** The one procedure that reads the cookie; the cookie's Path is its URL, so no other request carries it. */
export const refreshCookiePath = "/trpc/auth.refresh";
const cookieBaseName = "bulkhead_refresh";

/** A session as a response carries it: in cookie mode without the refresh token. */
export type DeliveredSession = Omit<Session, "refreshToken"> & { refreshToken?: string };

export interface BrowserSession {
  /** The request asked for cookie mode. */
  readonly cookieMode: boolean;
  /**
   * FORBIDDEN when the request asks for cookie mode (or presents the cookie to refresh with)
   * from an origin that is not allowed, or presents the cookie without the mode header: a
   * cross-site form can send the cookie's request, never this header.
   */
  assertSafe(options: { usesCookie: boolean }): void;
  /** The refresh token the cookie carries (call `assertSafe` first). */
  readonly cookieToken: string | null;
  /** In cookie mode: sets the cookie and returns the session without its refresh token. */
  deliver(session: Session): DeliveredSession;
  /** Expires the cookie. */
  clear(): void;
}

const loopbackHosts = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * Whether the cookie must be `Secure`, its name, the request's cookie and whether its origin may
 * use it. `Secure` (and with it the `__Secure-` prefix) is dropped only for plain-HTTP loopback
 * outside production: browsers refuse Secure cookies over HTTP elsewhere, and nowhere else may a
 * refresh token travel unencrypted.
 */
function cookieStateOf(request: Request, config: AppConfig) {
  const url = new URL(request.url);
  const secure = !(
    config.browser.allowInsecureLocalhost &&
    url.protocol === "http:" &&
    loopbackHosts.has(url.hostname)
  );
  const name = secure ? `__Secure-${cookieBaseName}` : cookieBaseName;
  const origin = request.headers.get("origin");
  // The own origin comes from configuration, never from the request's Host, which its sender writes.
  const originAllowed =
    origin !== null && (config.browser.origins.includes(origin) || origin === config.browser.ownOrigin);
  const header = request.headers.get("cookie");
  const cookieToken = header ? (parse(header, name)[name] ?? null) : null;
  return { secure, originAllowed, cookieToken };
}

/**
 * The browser side of one request. Every tRPC request builds one, and few use it (the session
 * procedures): the cookie and origin are read the first time one does.
 */
export function browserSessionOf(request: Request, config: AppConfig, resHeaders: Headers): BrowserSession {
  const cookieMode = request.headers.get(sessionModeHeader)?.trim().toLowerCase() === "cookie";
  let read: ReturnType<typeof cookieStateOf> | undefined;
  const state = () => {
    read ??= cookieStateOf(request, config);
    return read;
  };
  const cookie = (value: string, maxAge: number) => {
    const { secure } = state();
    return generateCookie(cookieBaseName, value, {
      path: refreshCookiePath,
      httpOnly: true,
      secure,
      sameSite: "Strict",
      maxAge,
      // Adds the `__Secure-` prefix to the name: a browser then refuses the cookie without Secure.
      ...(secure ? { prefix: "secure" as const } : {}),
    });
  };

  return {
    cookieMode,
    get cookieToken() {
      return state().cookieToken;
    },
    assertSafe({ usesCookie }) {
      const { originAllowed, cookieToken } = state();
      if ((cookieMode || (usesCookie && cookieToken)) && !originAllowed) {
        throw new TRPCError({ code: "FORBIDDEN", message: "Cookie sessions are refused from this origin" });
      }
      if (usesCookie && cookieToken && !cookieMode) {
        throw new TRPCError({
          code: "FORBIDDEN",
          message: `Refreshing with the session cookie needs the ${sessionModeHeader}: cookie header`,
        });
      }
    },
    deliver(session) {
      if (!cookieMode) return session;
      resHeaders.append("set-cookie", cookie(session.refreshToken, config.refreshTokenTtlDays * 86_400));
      const { refreshToken: _kept, ...visible } = session;
      return visible;
    },
    clear() {
      resHeaders.append("set-cookie", cookie("", 0));
    },
  };
}
