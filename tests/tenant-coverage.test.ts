/**
 * Every tenant table is known to the export, the erase and the model fuzzer:
 * - in the export's sections, or declared left out with a reason;
 * - erased in batches by `app.erase_tenant_batch`, or declared to go with its parent row, which
 *   the catalogue must then show as an ON DELETE CASCADE to a table the erase deletes;
 * - modelled by the model fuzzer, or declared covered elsewhere.
 * The tenant tables come from the catalogue, so a table a team adds fails here, by name, until
 * it is handled.
 */
import { readFileSync } from "node:fs";
import { sql } from "drizzle-orm";
import { getTableConfig } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { erasedWithTheirParent } from "../db/erase.js";
import { functionsFolder } from "../db/functions.js";
import { tenantTables } from "../db/schema-rules.js";
import { rowsOf } from "../db/types.js";
import { exportSections, notExported } from "../server/tenant/export.js";
import { modelledTables, notModelled } from "./fuzz/model.js";
import { openTestDatabase, type TestDatabase } from "./helpers/db.js";

let db: TestDatabase;
let tables: string[];
beforeAll(async () => {
  db = await openTestDatabase();
  tables = (await tenantTables(db.admin)).map((name) => name.replace(/^public\./, ""));
});
afterAll(() => db.close());

/** The tables `app.erase_tenant_batch` deletes from, in its order. */
const erasedInBatches = [
  ...readFileSync(`${functionsFolder}/erase_tenant_batch.sql`, "utf8").matchAll(/DELETE FROM public\.(\w+)/g),
].map((match) => match[1] as string);

describe("every tenant table", () => {
  it("is found in the catalogue", () => {
    expect(tables).toEqual(expect.arrayContaining(["projects", "tasks", "comments", "users", "audit_events"]));
  });

  it("is exported, or declared left out with a reason", () => {
    const exported = new Set(exportSections.map((section) => getTableConfig(section.table).name));
    const unknown = tables.filter((table) => !exported.has(table) && !notExported[table]);
    expect(unknown, "tenant tables the export does not know: add a section or a reason to notExported").toEqual([]);
    for (const table of Object.keys(notExported)) expect(tables, `notExported names ${table}`).toContain(table);
  });

  it("is modelled by the model fuzzer, or declared left out with what covers it instead", () => {
    const unknown = tables.filter((table) => !modelledTables.includes(table) && !notModelled[table]);
    expect(unknown, "tenant tables the model fuzzer does not know: model them or say what covers them").toEqual([]);
  });

  it("is erased in batches, or declared to go with a parent the erase deletes, by a cascade the catalogue shows", async () => {
    const unknown = tables.filter((table) => !erasedInBatches.includes(table) && !erasedWithTheirParent[table]);
    expect(unknown, "tenant tables the erase does not know: erase them in batches or declare them").toEqual([]);
    const cascades = rowsOf<{ child: string; parent: string }>(
      await db.admin.execute(sql`
        select c.conrelid::regclass::text as child, c.confrelid::regclass::text as parent
          from pg_catalog.pg_constraint c where c.contype = 'f' and c.confdeltype = 'c'`),
    );
    for (const table of Object.keys(erasedWithTheirParent)) {
      const parents = cascades.filter((c) => c.child === table).map((c) => c.parent);
      expect(
        parents.some((parent) => parent === "tenants" || erasedInBatches.includes(parent)),
        `${table} is declared to go with its parent, but no ON DELETE CASCADE leads to a table the erase deletes`,
      ).toBe(true);
    }
  });
});
