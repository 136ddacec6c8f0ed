import type { MemberRole } from "../db/schema.js";

const rank: Record<MemberRole, number> = { member: 1, admin: 2, owner: 3 };

/** Whether `role` is at least `minimum` (owner > admin > member). */
export function hasRole(role: MemberRole, minimum: MemberRole): boolean {
  return rank[role] >= rank[minimum];
}
