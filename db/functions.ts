/**
 * The SQL functions as the repository defines them: one file each in `db/sql/functions/`, the
 * whole current definition (body, rights, owner, grants). Migrations apply them after the
 * versioned migrations in `drizzle/` (`applyFunctions`), and the posture check compares what is
 * deployed with them (`functionDrift`). Node only: it reads the files from disk.
 *
 * A file holds one `CREATE OR REPLACE FUNCTION app.<name>(...)` whose body is quoted `$$ ... $$`
 * or is SQL-standard (`BEGIN ATOMIC ... END;`, written as `pg_get_function_sqlbody` prints it),
 * then its `ALTER FUNCTION ... OWNER TO`, `REVOKE` and `GRANT` statements. Changing a function's
 * arguments or result type needs a versioned migration that drops the old one first.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { type Db, rowsOf } from "./types.js";

export const functionsFolder = fileURLToPath(new URL("./sql/functions", import.meta.url));

export interface FunctionSource {
  /** The file's name, e.g. `set_context.sql`. */
  file: string;
  /** The function's name in schema `app`. */
  name: string;
  /** The whole file: what `applyFunctions` runs. */
  text: string;
  /**
   * What PostgreSQL keeps as the function's source: the text between `$$`s (`pg_proc.prosrc`),
   * or a SQL-standard body from `BEGIN ATOMIC` to `END` (`pg_get_function_sqlbody`).
   */
  body: string;
  definer: boolean;
  /** The pinned search_path, as `pg_proc.proconfig` shows it (`search_path=pg_catalog, pg_temp`). */
  searchPath: string | null;
  /** Every setting the header pins, search_path included, as `pg_proc.proconfig` shows them. */
  settings: string[];
  /** The owner the file assigns (definer functions must run as bulkhead_owner), or null. */
  owner: string | null;
  /** Who may execute it, besides its owner: `PUBLIC` unless the file revokes it. */
  grantees: string[];
}

function match(text: string, pattern: RegExp, file: string, what: string): RegExpMatchArray {
  const found = text.match(pattern);
  if (!found) throw new Error(`${file}: no ${what}`);
  return found;
}

/** Reads one function file. */
export function parseFunctionFile(file: string, text: string): FunctionSource {
  const name =
    match(text, /CREATE OR REPLACE FUNCTION app\.([a-z_]+)\(/, file, "CREATE OR REPLACE FUNCTION app.<name>(")[1] ?? "";
  if (`${name}.sql` !== file) throw new Error(`${file}: defines app.${name}; name the file ${name}.sql`);
  const definition = match(
    text,
    /CREATE OR REPLACE FUNCTION[\s\S]*?(?:\bAS \$\$([\s\S]*?)\$\$;|\n(BEGIN ATOMIC\n[\s\S]*?\nEND);)/,
    file,
    "body quoted AS $$ ... $$; or BEGIN ATOMIC ... END;",
  );
  const atomic = definition[2];
  const header = definition[0].slice(0, definition[0].indexOf(atomic === undefined ? "AS $$" : "BEGIN ATOMIC"));
  const searchPath = header.match(/SET search_path = ([a-z_, ]+)/)?.[1]?.trim() ?? null;
  const settings = [...header.matchAll(/\bSET ([a-z_.]+) = (?:'([^']*)'|([a-z_, ]+))/g)].map(
    (m) => `${m[1]}=${(m[2] ?? m[3] ?? "").trim()}`,
  );
  const revoked = /REVOKE ALL ON FUNCTION [^;]+ FROM PUBLIC;/.test(text);
  const granted = [...text.matchAll(/GRANT EXECUTE ON FUNCTION [^;]+? TO ([a-z_, ]+);/g)].flatMap((m) =>
    (m[1] ?? "").split(",").map((role) => role.trim()),
  );
  return {
    file,
    name,
    text,
    body: atomic ?? definition[1] ?? "",
    definer: /\bSECURITY DEFINER\b/.test(header),
    searchPath: searchPath === null ? null : `search_path=${searchPath}`,
    settings: settings.sort(),
    owner: text.match(/OWNER TO ([a-z_]+);/)?.[1] ?? null,
    grantees: [...new Set([...(revoked ? [] : ["PUBLIC"]), ...granted])].sort(),
  };
}

let loaded: FunctionSource[] | undefined;

/** Every file in `db/sql/functions/`, in name order (read once per process). */
export function functionSources(): FunctionSource[] {
  loaded ??= readdirSync(functionsFolder)
    .filter((file) => file.endsWith(".sql"))
    .sort()
    .map((file) => parseFunctionFile(file, readFileSync(`${functionsFolder}/${file}`, "utf8")));
  return loaded;
}

interface DeployedFunction {
  name: string;
  signature: string;
  body: string;
  definer: boolean;
  config: string[] | null;
  owner: string;
  grantees: string[] | null;
}

async function deployedFunctions(db: Db): Promise<DeployedFunction[]> {
  return rowsOf<DeployedFunction>(
    await db.execute(sql`
      select p.proname as name,
             format('app.%I(%s)', p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) as signature,
             case when p.prosqlbody is null then p.prosrc else pg_catalog.pg_get_function_sqlbody(p.oid) end as body,
             p.prosecdef as definer, p.proconfig as config,
             pg_catalog.pg_get_userbyid(p.proowner) as owner,
             (select array_agg(distinct case when a.grantee = 0 then 'PUBLIC' else pg_catalog.pg_get_userbyid(a.grantee) end)
                from pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
               where a.privilege_type = 'EXECUTE' and a.grantee <> p.proowner) as grantees
        from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
       where n.nspname = 'app'
       order by 1, 2`),
  );
}

/** How one deployed function differs from its file; empty when it matches. */
function differences(source: FunctionSource, deployed: DeployedFunction): string[] {
  const found: string[] = [];
  if (deployed.body !== source.body) found.push("its body");
  if (deployed.definer !== source.definer)
    found.push(source.definer ? "it is not SECURITY DEFINER" : "it is SECURITY DEFINER");
  const searchPath = (deployed.config ?? []).find((setting) => setting.startsWith("search_path=")) ?? null;
  if (searchPath !== source.searchPath) found.push(`search_path (${searchPath ?? "not pinned"})`);
  else if ([...(deployed.config ?? [])].sort().join("\n") !== source.settings.join("\n"))
    found.push(`its settings (${(deployed.config ?? []).join("; ") || "none"})`);
  if (source.owner && deployed.owner !== source.owner) found.push(`its owner (${deployed.owner})`);
  const grantees = [...(deployed.grantees ?? [])].sort();
  if (grantees.join(",") !== source.grantees.join(","))
    found.push(`who may execute it (${grantees.join(", ") || "nobody"})`);
  return found;
}

/** How the deployed versions of `source`'s function differ from its file; empty when they match. */
function sourceDrift(source: FunctionSource, deployed: DeployedFunction[]): string[] {
  const versions = deployed.filter((fn) => fn.name === source.name);
  const problems: string[] = [];
  if (versions.length === 0) problems.push(`function app.${source.name} is missing (db/sql/functions/${source.file})`);
  if (versions.length > 1) {
    problems.push(
      `function app.${source.name} has ${versions.length} definitions; db/sql/functions/${source.file} has one`,
    );
  }
  for (const version of versions) {
    const found = differences(source, version);
    if (found.length > 0) {
      problems.push(`function ${version.signature} differs from db/sql/functions/${source.file}: ${found.join(", ")}`);
    }
  }
  return problems;
}

/**
 * Every way the functions in schema `app` differ from `db/sql/functions/`: a body, rights,
 * search_path, owner or grants changed by hand, a file not applied, or a function no file
 * defines. Each a sentence; empty when the database runs exactly what the repository says.
 */
export async function functionDrift(db: Db, sources: FunctionSource[] = functionSources()): Promise<string[]> {
  const deployed = await deployedFunctions(db);
  const problems = sources.flatMap((source) => sourceDrift(source, deployed));
  const known = new Set(sources.map((source) => source.name));
  for (const fn of deployed) {
    if (!known.has(fn.name)) problems.push(`function ${fn.signature} is not defined in db/sql/functions/`);
  }
  return problems;
}

/**
 * Brings the functions up to the files, after the versioned migrations: runs the file of each
 * function that is missing or differs (all in one transaction), and leaves the rest untouched.
 * `run` executes a multi-statement SQL text as the migrating role.
 */
export async function applyFunctions(db: Db, run: (text: string) => Promise<unknown>): Promise<string[]> {
  const deployed = await deployedFunctions(db);
  const stale = functionSources().filter((source) => sourceDrift(source, deployed).length > 0);
  if (stale.length > 0) await run(`BEGIN;\n${stale.map((source) => source.text).join("\n")}\nCOMMIT;`);
  return stale.map((source) => source.file);
}
