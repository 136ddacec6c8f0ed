/**
 * The wire format: superjson's, both ways (API.md). Requests are checked before superjson reads
 * them (`server/input.ts`, decision 001). Responses are written by Bulkhead's one-pass
 * serializer (`serializer.ts`, byte for byte superjson's output, proved by `serializer.test.ts`)
 * unless `WIRE_SERIALIZER=superjson` switches back to superjson itself: the serializer earned its
 * place by P2 measured with and without it in one run (docs/decisions/008-one-pass-serializer.md).
 */
import type { CombinedDataTransformer } from "@trpc/server";
import superjson from "superjson";
import { deserializeInput } from "../input.js";
import { serializeOutput } from "./serializer.js";

export type WireSerializer = "bulkhead" | "superjson";

const serializers: Record<WireSerializer, (value: unknown) => unknown> = {
  bulkhead: serializeOutput,
  superjson: (value) => superjson.serialize(value),
};

// One setting per process, chosen at start (tRPC's transformer is fixed where `initTRPC` runs).
let active: WireSerializer = "bulkhead";

/** Chooses the response serializer: `createApp` calls it with `WIRE_SERIALIZER`. */
export function useWireSerializer(serializer: WireSerializer): void {
  active = serializer;
}

/** tRPC's transformer: superjson in (checked first), superjson's format out. */
export const transformer: CombinedDataTransformer = {
  input: { serialize: (value) => superjson.serialize(value), deserialize: deserializeInput },
  output: {
    serialize: (value) => serializers[active](value),
    deserialize: (value) => superjson.deserialize(value),
  },
};
