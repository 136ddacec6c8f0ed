import { TRPCError } from "@trpc/server";

export const invalidInvitation = () =>
  new TRPCError({ code: "UNAUTHORIZED", message: "Invalid, used or expired invitation" });

export const invalidResetToken = () =>
  new TRPCError({ code: "UNAUTHORIZED", message: "Invalid, used or expired password reset link" });

/** 429 with `Retry-After`, for a throttled attempt. */
export function tooMany(resHeaders: Headers, wait: number, what: string) {
  resHeaders.set("Retry-After", String(wait));
  return new TRPCError({ code: "TOO_MANY_REQUESTS", message: `Too many ${what}; retry in ${wait} seconds` });
}
