/**
 * New passwords, after NIST 800-63B: at least 12 characters (the input schemas say so), no
 * composition rules, and none that is the account's email, the workspace's name, or one of the
 * most common passwords. The message names the rule a password broke.
 */
import { TRPCError } from "@trpc/server";
import { commonPasswords } from "./common-passwords.js";

const fold = (value: string) => value.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();

/** The rule `password` breaks for this account, or null. */
export function passwordProblem(password: string, account: { email: string; tenantName: string }): string | null {
  const candidate = fold(password);
  const squeezed = candidate.replace(/[^\p{L}\p{N}]/gu, "");
  const email = fold(account.email);
  const local = email.split("@")[0] ?? "";
  if (candidate.includes(email) || (local.length >= 4 && squeezed.includes(local.replace(/[^\p{L}\p{N}]/gu, "")))) {
    return "must not contain your email address";
  }
  const workspace = fold(account.tenantName).replace(/[^\p{L}\p{N}]/gu, "");
  if (workspace.length >= 4 && squeezed.includes(workspace)) return "must not contain the workspace's name";
  if (commonPasswords.has(candidate) || commonPasswords.has(squeezed)) {
    return "is one of the most commonly used passwords; choose another";
  }
  return null;
}

/** BAD_REQUEST naming the rule, when `password` breaks one. */
export function assertPasswordAllowed(
  password: string,
  account: { email: string; tenantName: string },
  field = "password",
): void {
  const problem = passwordProblem(password, account);
  if (problem) throw new TRPCError({ code: "BAD_REQUEST", message: `Invalid input: ${field}: ${problem}` });
}
