/**
 * The REST face: the procedures that carry `meta.openapi` (projects, tasks, comments, the audit
 * trail), served under /api/v1 by trpc-to-openapi and described in /api/v1/openapi.json (OpenAPI
 * 3.1). A REST route is the tRPC procedure itself, called through `createCaller` with the same
 * context, middleware, zod input and errors (mapped to HTTP status codes); its answer is the
 * procedure's output as plain JSON, dates as ISO strings.
 *
 * trpc-to-openapi (and zod-openapi with it) is loaded by the REST face's first request: it cost
 * every server ~14 MB of memory from start, REST used or not (BENCHMARKS.md, Mem).
 */
import type { OpenApiRouter } from "trpc-to-openapi";
import type { Context } from "./context.js";
import { appRouter } from "./routers/_app.js";

/** Where the REST face is mounted. */
export const restBase = "/api/v1";

type Library = typeof import("trpc-to-openapi");
let library: Promise<Library> | undefined;
function openApiLibrary(): Promise<Library> {
  if (!library) library = import("trpc-to-openapi");
  return library;
}

/** The OpenAPI 3.1 document of the REST face, for a server at `origin` (or relative paths). */
export async function openApiDocument(origin = "") {
  const { generateOpenApiDocument } = await openApiLibrary();
  return generateOpenApiDocument(appRouter, {
    title: "Bulkhead API",
    description:
      "Projects, tasks, comments and the audit trail of one workspace. Authenticate with a workspace API key " +
      "(`Authorization: Bearer bhk_…`) or a member's access token. Each key may make API_KEY_REQUESTS_PER_MINUTE " +
      "requests a minute (RateLimit-* headers; 429 with Retry-After past it).",
    version: "1.0.0",
    baseUrl: `${origin}${restBase}`,
    securitySchemes: {
      bearer: { type: "http", scheme: "bearer", description: "A workspace API key (bhk_…) or an access token" },
    },
  });
}

/** What one REST request hands its context builder. */
export interface RestRequest {
  request: Request;
  createContext: (resHeaders: Headers) => Context;
}

const restRequest = Symbol("bulkhead.restRequest");
type ProxiedRequest = Request & { [restRequest]: RestRequest };

type Handler = ReturnType<Library["createOpenApiNodeHttpHandler"]>;
let built: Promise<Handler> | undefined;
/**
 * The library's handler, built once: trpc-to-openapi's own fetch adapter builds it (and, outside
 * production, the whole OpenAPI document to validate the router) on every request. What this adds
 * is what that adapter does per request: the body read as JSON, the path without the mount point.
 */
function restHandler(): Promise<Handler> {
  if (!built)
    built = openApiLibrary().then(({ createOpenApiNodeHttpHandler }) =>
      createOpenApiNodeHttpHandler({
        router: appRouter as OpenApiRouter,
        createContext: ({ req }: { req: unknown }) => (req as ProxiedRequest)[restRequest].createContext(new Headers()),
        // The headers a procedure set (Retry-After, RateLimit-*) go out with its answer.
        responseMeta: ({ ctx }: { ctx?: Context }) => ({ headers: ctx ? Object.fromEntries(ctx.resHeaders) : {} }),
      } as unknown as Parameters<Library["createOpenApiNodeHttpHandler"]>[0]),
    );
  return built;
}

/** Serves one REST request: a procedure's answer, or a 404 for a route none has. */
export async function serveRest(rest: RestRequest): Promise<Response> {
  const { request } = rest;
  const url = new URL(request.url);
  url.pathname = url.pathname.slice(restBase.length) || "/";
  let body: { ok: true; value: unknown } | { ok: false } = { ok: true, value: undefined };
  if (request.method !== "GET" && request.method !== "HEAD" && request.method !== "DELETE") {
    const text = await request.text();
    try {
      body = { ok: true, value: text === "" ? undefined : JSON.parse(text) };
    } catch {
      body = { ok: false };
    }
  }
  if (!body.ok)
    return Response.json({ message: "Malformed request: the body is not JSON", code: "PARSE_ERROR" }, { status: 400 });
  const parsed = body.value;
  const handler = await restHandler();
  const proxied = new Proxy(request, {
    get: (target, property) => {
      if (property === restRequest) return rest;
      if (property === "url") return url.toString();
      if (property === "body") return parsed;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return new Promise<Response>((resolve, reject) => {
    const headers = new Headers();
    const res = {
      statusCode: 200,
      setHeader: (name: string, value: string | string[]) => {
        if (typeof value === "string") headers.set(name, value);
        else for (const v of value) headers.append(name, v);
      },
      end: (text: string) => resolve(new Response(text, { status: res.statusCode, headers })),
    };
    handler(proxied as never, res as never).catch(reject);
  });
}
