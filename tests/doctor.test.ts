/**
 * `npm run doctor` (PostgreSQL): passes on a migrated database, directly and through PgBouncer,
 * and fails each check with its hint when its fault is injected — a superuser runtime role, an
 * owner that logs in, a migration missing or unknown, a table without FORCE, prepared statements
 * behind a pooler, no statement_timeout. The statements check reads pg_stat_statements when it is
 * loaded; here its filter is tested on statements as that view holds them.
 */
import { spawnSync } from "node:child_process";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Check, runDoctor, unscopedStatements } from "../db/doctor.js";
import { connectPostgres } from "../db/postgres.js";
import { rowsOf } from "../db/types.js";
import { openTestDatabase, type TestDatabase } from "./helpers/db.js";
import { adminUrl, testEngine, urlFor } from "./helpers/engine.js";

const bouncer = process.env.BULKHEAD_TEST_PGBOUNCER;

describe.runIf(testEngine === "postgres")("npm run doctor", () => {
  let db: TestDatabase;
  let name: string;
  const roles: string[] = [];

  beforeAll(async () => {
    db = await openTestDatabase();
    name = new URL(db.url ?? "").pathname.slice(1);
  });
  afterAll(async () => {
    await db?.close();
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    for (const role of roles) await admin.unsafe(`drop role if exists ${role}`);
    await admin.end();
  });

  /** The doctor's checks against this database, connected as `user` (default the runtime role). */
  async function doctor(
    options: { user?: string; prepare?: boolean; urlPort?: number; ownerRole?: string; allowOwnerLogin?: boolean } = {},
  ) {
    const database = connectPostgres({ url: urlFor(name, options.user ?? "bulkhead_app"), poolMax: 1 });
    try {
      return await runDoctor(database.db, { prepare: options.prepare ?? true, ...options });
    } finally {
      await database.close();
    }
  }
  const byName = (checks: Check[], check: string) => checks.find((c) => c.name === check);
  const failed = (checks: Check[]) => checks.filter((c) => c.status === "fail").map((c) => c.name);

  it("passes on a migrated database, and changes nothing", async () => {
    const checks = await doctor();
    expect(failed(checks)).toEqual([]);
    expect(checks.map((c) => c.name)).toEqual([
      "roles",
      "migrations",
      "isolation posture",
      "pooler and timeouts",
      "statements without a tenant",
    ]);
    expect(byName(checks, "statements without a tenant")?.status).toBe("skip");
  });

  it("fails on a superuser runtime role, and on an owner role that logs in unless told it may", async () => {
    const superuser = `doctor_su_${process.pid}`;
    const owner = `doctor_owner_${process.pid}`;
    roles.push(superuser, owner);
    await db.admin.execute(sql.raw(`create role ${superuser} login superuser; create role ${owner} login`));
    const asSuperuser = await doctor({ user: superuser });
    expect(byName(asSuperuser, "roles")).toMatchObject({
      status: "fail",
      details: expect.arrayContaining([`the runtime role ${superuser} is a superuser: superusers bypass RLS`]),
      hint: expect.stringContaining("NOSUPERUSER NOBYPASSRLS"),
    });
    expect(byName(await doctor({ ownerRole: owner }), "roles")).toMatchObject({
      status: "fail",
      details: [`the owner role ${owner} can log in`],
      hint: expect.stringContaining(`ALTER ROLE ${owner} NOLOGIN`),
    });
    expect(byName(await doctor({ ownerRole: owner, allowOwnerLogin: true }), "roles")?.status).toBe("pass");
  });

  it("fails when a migration is missing, or the database has one the code does not", async () => {
    const [last] = rowsOf<{ id: number; hash: string; created_at: string }>(
      await db.admin.execute(
        sql`delete from drizzle.__drizzle_migrations where created_at = (select max(created_at) from drizzle.__drizzle_migrations) returning id, hash, created_at::text`,
      ),
    );
    try {
      expect(byName(await doctor(), "migrations")).toMatchObject({
        status: "fail",
        details: [expect.stringMatching(/^1 of the code's \d+ migrations are not applied$/)],
        hint: expect.stringContaining("npm run db:migrate"),
      });
    } finally {
      await db.admin.execute(
        sql`insert into drizzle.__drizzle_migrations (id, hash, created_at) values (${last?.id}, ${last?.hash}, ${last?.created_at}::bigint)`,
      );
    }
    await db.admin.execute(
      sql`insert into drizzle.__drizzle_migrations (hash, created_at) values ('future', 99999999999999)`,
    );
    try {
      expect(byName(await doctor(), "migrations")?.details).toEqual([
        "1 applied migration(s) the code does not have: is this code older than the database?",
      ]);
    } finally {
      await db.admin.execute(sql`delete from drizzle.__drizzle_migrations where hash = 'future'`);
    }
  });

  it("when the migrations cannot be read, says so and still runs every other check", async () => {
    await db.admin.execute(sql`revoke select on drizzle.__drizzle_migrations from bulkhead_app`);
    try {
      const checks = await doctor();
      expect(byName(checks, "migrations")?.details).toEqual([
        "no migrations table, or the runtime role cannot read it",
      ]);
      expect(byName(checks, "isolation posture")?.status).toBe("pass");
      expect(failed(checks)).toEqual(["migrations"]);
    } finally {
      await db.admin.execute(sql`grant select on drizzle.__drizzle_migrations to bulkhead_app`);
    }
  });

  it("fails on the posture check's problems, naming the object", async () => {
    await db.admin.execute(sql`alter table projects no force row level security`);
    try {
      expect(byName(await doctor(), "isolation posture")).toMatchObject({
        status: "fail",
        details: ["public.projects: row-level security is not forced (the owner bypasses it)"],
      });
    } finally {
      await db.admin.execute(sql`alter table projects force row level security`);
    }
  });

  it("fails on prepared statements behind a pooler, and on no statement_timeout", async () => {
    const checks = await doctor({ prepare: true, urlPort: 1 });
    expect(byName(checks, "pooler and timeouts")).toMatchObject({
      status: "fail",
      details: [expect.stringContaining("DATABASE_PREPARE is on: named prepared statements break")],
      hint: expect.stringContaining("DATABASE_PREPARE=false"),
    });
    expect(byName(await doctor({ prepare: false, urlPort: 1 }), "pooler and timeouts")?.status).toBe("pass");
    await db.admin.execute(sql.raw(`alter role bulkhead_app in database ${name} set statement_timeout = 0`));
    try {
      expect(byName(await doctor(), "pooler and timeouts")).toMatchObject({
        status: "fail",
        details: ["statement_timeout is 0 for bulkhead_app: a runaway statement holds its connection for good"],
      });
    } finally {
      await db.admin.execute(sql.raw(`alter role bulkhead_app in database ${name} reset statement_timeout`));
    }
  });

  it("names the statements over tenant tables that name no tenant, from pg_stat_statements' text", () => {
    const stats = [
      { query: 'select "id", "name" from "projects" where "projects"."tenant_id" = $1', calls: 900, total_ms: 40 },
      { query: 'select count(*) from "tasks"', calls: 12, total_ms: 300 },
      { query: "update public.comments set body = $1 where id = $2", calls: 3, total_ms: 2 },
      { query: "select * from app.read($1, $2, $3)", calls: 5000, total_ms: 90 },
      { query: "select 1 from pg_catalog.pg_class", calls: 7, total_ms: 1 },
      { query: "insert into audit_events (tenant_id, action) values ($1, $2)", calls: 40, total_ms: 3 },
    ];
    expect(
      unscopedStatements(stats, ["public.projects", "public.tasks", "public.comments"]).map((s) => s.query),
    ).toEqual(['select count(*) from "tasks"', "update public.comments set body = $1 where id = $2"]);
  });

  it.runIf(Boolean(bouncer))("passes through PgBouncer with prepared statements off, and fails with them on", () => {
    const run = (prepare: string) =>
      spawnSync(process.execPath, ["--import", "tsx", "server/cli/doctor.ts", "--json"], {
        encoding: "utf8",
        env: {
          ...process.env,
          DATABASE_URL: `postgres://bulkhead_app@${bouncer}/${name}`,
          DATABASE_PREPARE: prepare,
          NODE_ENV: "test",
        },
      });
    const off = run("false");
    expect(off.status, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).toMatchObject({ ok: true });
    const on = run("true");
    expect(on.status).toBe(1);
    const report = JSON.parse(on.stdout) as { checks: Check[] };
    expect(failed(report.checks)).toEqual(["pooler and timeouts"]);
  });
});
