import { tenants, users } from "../../db/schema.js";

/** Columns of a `Member` (never the password hash). */
export const memberColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  emailVerifiedAt: users.emailVerifiedAt,
  createdAt: users.createdAt,
};

export const tenantColumns = {
  id: tenants.id,
  slug: tenants.slug,
  name: tenants.name,
  requireVerifiedEmail: tenants.requireVerifiedEmail,
  requireMfa: tenants.requireMfa,
  deletionDueAt: tenants.deletionDueAt,
  createdAt: tenants.createdAt,
};

export interface Member {
  id: string;
  email: string;
  name: string;
  role: "owner" | "admin" | "member";
  emailVerifiedAt: Date | null;
  createdAt: Date;
}

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  requireVerifiedEmail: boolean;
  /** Members must sign in with a second factor (`tenant.update`, owner). */
  requireMfa: boolean;
  /** Set while a deletion is scheduled: when the erase may begin. */
  deletionDueAt: Date | null;
  createdAt: Date;
}

export interface Session {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: Date;
  user: Member;
  tenant: Tenant;
}
