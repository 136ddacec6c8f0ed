import type postgres from "postgres";
import { progress } from "./lib.js";

export interface SeededTenant {
  tenantId: string;
  userId: string;
  /** A live session of the owner (a refresh-token family), for the access tokens benchmarks sign. */
  sessionId: string;
  slug: string;
}

/**
 * Seeds `tenants` tenants with one owner and `projectsPerTenant` projects each, directly as the
 * superuser (set-based inserts, in batches, with a progress bar). Password hashes are
 * placeholders: benchmarks that log in register their users through the API instead.
 */
export async function seedTenants(
  owner: postgres.Sql,
  tenants: number,
  projectsPerTenant: number,
  label = "seeding",
): Promise<SeededTenant[]> {
  const batch = Math.max(1, Math.min(tenants, Math.floor(200_000 / Math.max(1, projectsPerTenant))));
  const seeded: SeededTenant[] = [];
  for (let start = 0; start < tenants; start += batch) {
    const count = Math.min(batch, tenants - start);
    const rows = await owner.begin(async (sql) => {
      const created = await sql<{ id: string; slug: string }[]>`
        insert into tenants (slug, name)
        select 'bench-' || ${process.pid} || '-' || g, 'Bench tenant ' || g from generate_series(${start}::int, ${start + count - 1}::int) g
        returning id, slug`;
      const users = await sql<{ tenant_id: string; id: string }[]>`
        insert into users (tenant_id, email, name, password_hash, role)
        select t.id, 'owner@' || t.slug || '.example', 'Owner', 'x', 'owner' from tenants t
        where t.id = any (${created.map((c) => c.id)}::uuid[])
        returning tenant_id, id`;
      const sessions = await sql<{ tenant_id: string; family_id: string }[]>`
        insert into refresh_tokens (tenant_id, user_id, family_id, token_hash, expires_at)
        select u.tenant_id, u.id, gen_random_uuid(), 'bench-' || gen_random_uuid(), now() + interval '1 day'
        from users u where u.tenant_id = any (${created.map((c) => c.id)}::uuid[])
        returning tenant_id, family_id`;
      if (projectsPerTenant > 0) {
        await sql`
          insert into projects (tenant_id, name, description, created_by, created_at)
          select u.tenant_id, 'Project ' || p, 'Seeded', u.id, now() - make_interval(secs => p)
          from users u, generate_series(1, ${projectsPerTenant}::int) p
          where u.tenant_id = any (${created.map((c) => c.id)}::uuid[])`;
      }
      const userOf = new Map(users.map((u) => [u.tenant_id, u.id]));
      const sessionOf = new Map(sessions.map((s) => [s.tenant_id, s.family_id]));
      return created.map((c) => ({
        tenantId: c.id,
        slug: c.slug,
        userId: userOf.get(c.id) ?? "",
        sessionId: sessionOf.get(c.id) ?? "",
      }));
    });
    seeded.push(...rows);
    progress(
      `${label} ${tenants.toLocaleString("en")} tenants x ${projectsPerTenant} projects`,
      start + count,
      tenants,
    );
  }
  await owner`analyze`;
  return seeded;
}

/** One project of each seeded tenant, by tenant id: what a benchmark's writes name. */
export async function projectOfEachTenant(owner: postgres.Sql): Promise<Map<string, string>> {
  const rows = await owner<
    { tenant_id: string; id: string }[]
  >`select distinct on (tenant_id) tenant_id, id from projects`;
  return new Map(rows.map((row) => [row.tenant_id, row.id]));
}
