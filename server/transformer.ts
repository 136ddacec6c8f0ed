/**
 * The wire format: superjson's, both ways (API.md). Requests are checked before superjson reads
 * them (`server/input.ts`, decision 001); responses are written by superjson itself (a one-pass
 * serializer of our own did not keep the 0.1x of P2 it had to earn: decision 017).
 */
import type { CombinedDataTransformer } from "@trpc/server";
import superjson from "superjson";
import { deserializeInput } from "./input.js";

/** tRPC's transformer: superjson in (checked first), superjson out. */
export const transformer: CombinedDataTransformer = {
  input: { serialize: (value) => superjson.serialize(value), deserialize: deserializeInput },
  output: { serialize: (value) => superjson.serialize(value), deserialize: (value) => superjson.deserialize(value) },
};
