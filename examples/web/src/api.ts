/**
 * The one API client of the app: @bulkhead/client in cookie mode. The refresh token lives in an
 * HttpOnly cookie this code cannot read; the access token only in the client's memory. A reload
 * starts with none and gets one from the cookie on its first call.
 */
import { createBulkheadClient, errorCode, errorDetails, type RouterOutputs } from "@bulkhead/client";

/** `VITE_API_URL` when the API is on another origin (development); else this origin's /trpc. */
const url = import.meta.env.VITE_API_URL ?? new URL("/trpc", window.location.origin).href;

/** Where the API is: links it hands out (an export's) are relative to it. */
export const apiUrl = url;

type Listener = () => void;
const listeners = new Set<Listener>();
let signedIn: boolean | null = null;

export const api = createBulkheadClient({
  url,
  mode: "cookie",
  onSession: (session) => {
    signedIn = session !== null;
    for (const listener of listeners) listener();
  },
});

/** Whether the last session change signed in (true), out (false), or nothing happened yet (null). */
export const sessionState = {
  subscribe(listener: Listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  get: () => signedIn,
};

export type Me = RouterOutputs["auth"]["me"];
export type Project = RouterOutputs["projects"]["get"];
export type Task = RouterOutputs["tasks"]["get"];
export type Comment = RouterOutputs["comments"]["list"]["items"][number];
export type Webhook = RouterOutputs["webhooks"]["list"][number];
export type ApiKey = RouterOutputs["apiKeys"]["list"]["items"][number];
export type Member = RouterOutputs["members"]["list"]["items"][number];
export type Invitation = RouterOutputs["members"]["invitations"]["items"][number];
export type AuditEvent = RouterOutputs["audit"]["list"]["items"][number];
export type Role = Member["role"];

const messages: Record<string, string> = {
  UNAUTHORIZED: "Those credentials did not work. Check the workspace, email and password.",
  FORBIDDEN: "You do not have permission to do that.",
  NOT_FOUND: "We could not find that. It may have been deleted.",
  CONFLICT: "That conflicts with something that already exists.",
  TOO_MANY_REQUESTS: "Too many attempts. Wait a little and try again.",
  TIMEOUT: "That took too long. Please try again.",
  SERVICE_UNAVAILABLE: "The service is briefly unavailable and nothing was changed. Try again in a moment.",
  INTERNAL_SERVER_ERROR: "Something went wrong on our side. Please try again.",
};

const fieldNames: Record<string, string> = {
  tenantSlug: "Workspace",
  slug: "Workspace address",
  "tenant.slug": "Workspace address",
  "tenant.name": "Workspace name",
  "owner.email": "Email",
  "owner.password": "Password",
  "owner.name": "Your name",
  email: "Email",
  password: "Password",
  name: "Name",
  title: "Title",
  description: "Description",
};

/**
 * A sentence a person can act on: the server's own message for conflicts, permissions and
 * validation (it names the field and the rule), a plain one for the rest; never raw JSON.
 */
export function describeError(error: unknown, overrides: Record<string, string> = {}): string {
  const details = errorDetails(error);
  if (!details) return "The server could not be reached. Check your connection and try again.";
  const { code, message, fieldErrors } = details;
  if (code && overrides[code]) return overrides[code];
  const fields = Object.entries(fieldErrors).flatMap(([field, issues]) =>
    issues.map((issue) => `${fieldNames[field] ?? field}: ${issue.replace(/^Invalid input: /, "")}`),
  );
  if (fields.length > 0) return `${fields.join(". ")}.`;
  if (code === "BAD_REQUEST" || code === "CONFLICT" || code === "FORBIDDEN" || code === "TOO_MANY_REQUESTS") {
    return message || messages[code] || "That request was not accepted.";
  }
  const known = (code && messages[code]) || "Something went wrong. Please try again.";
  return code === "INTERNAL_SERVER_ERROR" && details.requestId ? `${known} (reference ${details.requestId})` : known;
}

export const isNotFound = (error: unknown) => errorCode(error) === "NOT_FOUND";
export const isUnauthorized = (error: unknown) => errorCode(error) === "UNAUTHORIZED";
