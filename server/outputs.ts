/**
 * What the procedures on the REST face return, as zod schemas: tRPC checks every result against
 * them, and trpc-to-openapi describes them in `/api/v1/openapi.json`. Over REST a Date is its ISO
 * string (JSON); over tRPC it stays a Date (superjson).
 */
import { z } from "zod";
import { actorTypes, taskStatuses } from "../db/schema.js";
import type { Meta } from "./trpc.js";

const id = z.uuid();
const at = z.date();

/** A page of a list: `nextCursor` goes back as `cursor` for the next one, null on the last. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const projectOutput = z.object({
  id,
  name: z.string(),
  description: z.string().nullable(),
  createdBy: id,
  createdAt: at,
  updatedAt: at,
});

export const taskOutput = z.object({
  id,
  projectId: id,
  title: z.string(),
  status: z.enum(taskStatuses),
  assigneeId: id.nullable(),
  createdAt: at,
  updatedAt: at,
});

export const commentOutput = z.object({
  id,
  taskId: id,
  authorId: id,
  body: z.string(),
  createdAt: at,
});

export const auditEventOutput = z.object({
  id,
  actorId: id.nullable(),
  actorType: z.enum(actorTypes),
  action: z.string(),
  targetType: z.string(),
  targetId: id.nullable(),
  requestId: z.string().nullable(),
  clientAddress: z.string().nullable(),
  createdAt: at,
});

/** A procedure a workspace API key may call (`Meta.apiKeys`). */
export const forKeys: Meta = { apiKeys: true };

/** A procedure on the REST face too, under /api/v1, callable with an API key. */
export function rest(method: "GET" | "POST", path: `/${string}`, tag: string, summary: string): Meta {
  return { apiKeys: true, openapi: { method, path, tags: [tag], summary, protect: true } };
}
