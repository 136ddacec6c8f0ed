import type { ZodType } from "zod";

/** What the generators read of a zod 4 schema's definition. */
export interface Def {
  type: string;
  shape?: Record<string, ZodType>;
  innerType?: ZodType;
  in?: ZodType;
  entries?: Record<string, string>;
  values?: unknown[];
  format?: string;
  items?: ZodType[];
}

export const defOf = (schema: ZodType) => (schema as unknown as { _zod: { def: Def } })._zod.def;
