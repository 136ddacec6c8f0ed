import { decodeBase32IgnorePadding } from "@oslojs/encoding";
import type { BulkheadClient } from "../../client/src/index.js";
import { totpCode, totpStep } from "../../server/auth/mfa.js";
import type { TestClock } from "./app.js";

/** The TOTP code of a base32 secret at `at`, `steps` steps away (what an authenticator shows). */
export function codeFor(secret: string, at: Date, steps = 0): string {
  return totpCode(decodeBase32IgnorePadding(secret), totpStep(at) + steps);
}

/**
 * Moves the test clock to one second into a TOTP step, so a test's codes are not split by a step
 * boundary passing between computing one and the server checking it.
 */
export function startOfStep(clock: TestClock): void {
  const into = clock.now().getTime() % 30_000;
  clock.advance(30_000 - into + 1_000);
}

/** Turns TOTP on for the client's member: the secret, and the recovery codes shown once. */
export async function enrollTotp(client: BulkheadClient, clock: TestClock) {
  const { secret, uri } = await client.auth.mfa.totp.enroll.mutate();
  startOfStep(clock);
  const { recoveryCodes } = await client.auth.mfa.totp.confirm.mutate({ code: codeFor(secret, clock.now()) });
  // The confirming code's step is spent: the next code a test makes is the next step's.
  clock.advance(30_000);
  return { secret, uri, recoveryCodes };
}
