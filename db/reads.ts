import { fillPlaceholders, is, type Query, sql } from "drizzle-orm";
import {
  PgColumn,
  PgDatabase,
  type PgDialect,
  type PgQueryResultHKT,
  type PgSession,
  PgTimestamp,
  type SelectedFieldsOrdered,
} from "drizzle-orm/pg-core";
import { activityOf, type DatabaseActivity } from "./activity.js";
import { sqlState, sqlStateOf } from "./errors.js";
import type { MemberContext } from "./tenant.js";
import type { Db } from "./types.js";

/**
 * One-statement reads: any select built with Drizzle's query builder runs as a single
 * statement, `app.read(<member>, <its name>, <its SQL>, <its values>)` (db/sql/functions/read.sql), which
 * enters the member's context first — refusing a non-member (BH401) or another tenant's slug
 * (BH403) — and then runs the query as the runtime role under FORCE RLS, read-only. No
 * connection is reserved and there is no BEGIN or COMMIT; Drizzle itself maps the rows on both
 * engines (docs/decisions/006-one-generic-read.md). A prepared read sends its SQL only to a
 * connection that has not prepared it yet (docs/decisions/016-reads-send-their-text-once.md).
 * Anything but a select (`execute`, writes, relational queries, transactions) throws before it
 * is sent.
 *
 * Two ways to use them, one mechanism:
 * - `readsFor(db, member).db`: a Drizzle database for one request; build and await any select.
 * - `prepareRead(build)`: a hot read, built and prepared once per database with
 *   `sql.placeholder(...)` for what varies, run for a member with its values. Drizzle's
 *   query building costs more than the statement itself (P1), so the hot reads are prepared.
 */
export type ReadDb = PgDatabase<PgQueryResultHKT>;

/** A member's reads for one request, and whether one of them has come back. */
export interface Reads {
  /** Build and await any select on it. */
  db: ReadDb;
  /** Runs a prepared read (`prepareRead`) with the values of its placeholders. */
  run<Q extends Executable>(read: PreparedRead<Q>, values?: Record<string, unknown>): ReturnType<Q["execute"]>;
  /** True once a read returned (rows or none): `app.enter_member` accepted the caller. */
  confirmed(): boolean;
}

/** What a prepared read is: a Drizzle prepared select. */
export interface Executable<Result = unknown> {
  execute(values?: Record<string, unknown>): Promise<Result>;
}

/** A hot read: its prepared query on a given database (see `prepareRead`). */
export type PreparedRead<Q extends Executable> = (db: Db) => Q;

// What drizzle keeps on a database without declaring it (`@internal` in its types): the dialect
// that renders SQL and the session that runs it on the driver. Covered by tests/data-layer.
interface DrizzleInternals {
  dialect: PgDialect;
  session: PgSession;
}

/** The session of a read database: the driver's, with `prepareQuery` routed through app.read. */
interface ReadSession extends PgSession {
  driverSession: PgSession;
  /** The database's activity counters (`db/activity.ts`). */
  activity: DatabaseActivity;
  /** Bound for one request by `readsFor`; prepared reads get theirs at execution. */
  boundMember?: MemberContext;
  state?: { confirmed: boolean };
}

// The keys under which a prepared read gets its member and request state with its values
// (`Reads.run`): a prepared read is shared by every request, so they cannot live on it.
const memberKey = "\u0000bulkhead.member";
const stateKey = "\u0000bulkhead.state";

// The member's context, the select's name and text and its values, as placeholders of the
// app.read statement.
const readParams = ["tenant", "user", "timeout", "session", "slug", "name", "query"].map((name) =>
  sql.placeholder(`\u0000${name}`),
);
const valuesParam = sql.placeholder("\u0000values");
const keyParam = sql.placeholder("\u0000key");

const readDatabases = new WeakMap<Db, { dialect: PgDialect; session: ReadSession; db: ReadDb }>();

function readDatabase(db: Db) {
  let read = readDatabases.get(db);
  if (!read) {
    const { dialect, session } = db as unknown as DrizzleInternals;
    const readSession = Object.create(session) as ReadSession;
    readSession.driverSession = session;
    readSession.activity = activityOf(db);
    readSession.prepareQuery = prepareReadQuery as PgSession["prepareQuery"];
    readSession.transaction = () => {
      throw new Error("one-statement reads open no transaction: use a tenant procedure (withMember)");
    };
    read = { dialect, session: readSession, db: new PgDatabase(dialect, readSession, undefined) };
    readDatabases.set(db, read);
  }
  return read;
}

/** A Drizzle database whose every select is a one-statement read for `member`, for one request. */
export function readsFor(db: Db, member: MemberContext): Reads {
  const read = readDatabase(db);
  const session = Object.create(read.session) as ReadSession;
  const state = { confirmed: false };
  session.boundMember = member;
  session.state = state;
  return {
    db: new PgDatabase(read.dialect, session, undefined),
    run: <Q extends Executable>(prepared: PreparedRead<Q>, values?: Record<string, unknown>) =>
      prepared(db).execute({ ...values, [memberKey]: member, [stateKey]: state }) as ReturnType<Q["execute"]>,
    confirmed: () => state.confirmed,
  };
}

/**
 * A hot read, prepared once per database: `build` gets a read database and returns a prepared
 * select (`.prepare("name")`), with `sql.placeholder(...)` for the values that vary. Run it with
 * `readsFor(db, member).run` (a read procedure's `ctx.read`).
 *
 * @example
 * const projectById = prepareRead((db) =>
 *   db.select().from(projects)
 *     .where(and(eq(projects.tenantId, sql.placeholder("tenantId")), eq(projects.id, sql.placeholder("id"))))
 *     .prepare("project_by_id"));
 * const [project] = await readsFor(db, member).run(projectById, { tenantId, id });
 */
export function prepareRead<Q extends Executable>(build: (db: ReadDb) => Q): PreparedRead<Q> {
  const prepared = new WeakMap<Db, Q>();
  return (db) => {
    let query = prepared.get(db);
    if (!query) {
      query = build(readDatabase(db).db);
      prepared.set(db, query);
    }
    return query;
  };
}

interface ReadQuery extends Executable {
  driverExecute(values: Record<string, unknown>): Promise<unknown>;
  /** The select's text, and its statement name on a connection (`statementName`). */
  selectText: string;
  selectName: Promise<string>;
  selectParams: unknown[];
  boundMember: MemberContext | undefined;
  state: { confirmed: boolean } | undefined;
  activity: DatabaseActivity;
}

function prepareReadQuery(
  this: ReadSession,
  ...[query, fields, name, arrayMode, mapper, ...rest]: Parameters<PgSession["prepareQuery"]>
) {
  if (!fields || mapper) throw new Error("a one-statement read is a select built with db.select()");
  const plan = readPlan(fields);
  const select = readSelect(query.sql, plan);
  const prepared = this.driverSession.prepareQuery(readStatement(plan), fields, name, arrayMode, plan.mapRows, ...rest);
  const target = prepared as unknown as ReadQuery;
  target.driverExecute = target.execute;
  target.selectText = select;
  target.selectName = statementName(select);
  target.selectParams = query.params;
  target.boundMember = this.boundMember;
  target.state = this.state;
  target.activity = this.activity;
  target.execute = executeRead;
  return prepared;
}

// Made once and called as a method: a closure made per read that called the driver's method
// through `.call` kept every page of rows alive past V8's young generation (decision 009).
async function executeRead(this: ReadQuery, values: Record<string, unknown> = {}) {
  const member = (values[memberKey] as MemberContext | undefined) ?? this.boundMember;
  if (!member) throw new Error("a one-statement read runs for a member: use readsFor");
  const activity = this.activity;
  activity.reads++;
  let rows: unknown;
  // A select built for one request (bound to its member) sends its text every time; a prepared
  // one only when a connection asks for it.
  const sendText = this.boundMember !== undefined;
  const params = {
    "\u0000tenant": member.tenantId,
    "\u0000user": member.userId,
    "\u0000timeout": member.statementTimeoutMs,
    "\u0000session": member.sessionId,
    "\u0000slug": member.tenantSlug,
    "\u0000name": await this.selectName,
    "\u0000query": sendText ? this.selectText : null,
    "\u0000values": fillPlaceholders(this.selectParams, values).map(asText),
    "\u0000key": member.keyHash ?? null,
  };
  try {
    try {
      rows = await this.driverExecute(params);
    } catch (error) {
      // This connection has not prepared the select yet: send its text this once.
      if (sendText || sqlStateOf(error) !== sqlState.readNotPrepared) throw error;
      rows = await this.driverExecute({ ...params, "\u0000query": this.selectText });
    }
  } finally {
    activity.reads--;
  }
  const state = (values[stateKey] as { confirmed: boolean } | undefined) ?? this.state;
  if (state) state.confirmed = true;
  return rows;
}

interface ReadColumn {
  /** Its type in the result's column list, and how the wrapping select converts it. */
  type: string;
  convert: "none" | "text" | "epoch";
  key: string;
  decode: ((value: unknown) => unknown) | null;
}

interface ReadPlan {
  columns: ReadColumn[];
  /** Rows to the select's shape; undefined (Drizzle's own mapping) for nested selections. */
  mapRows: ((rows: unknown[][]) => unknown[]) | undefined;
}

/**
 * How a select's fields travel through `app.read` and back: a column keeps its SQL type, except
 * a Date timestamp of millisecond precision (`timestamp(3)`), which comes as epoch milliseconds
 * (exactly: `round(date_part(...))`, docs/decisions/018-epoch-by-date-part.md), anything else
 * (e.g. `count(*)`) as text for its field's decoder. Flat selections get a row mapper of their
 * own, cheaper than Drizzle's generic one (decision 006); nested ones keep Drizzle's.
 */
function readPlan(fields: SelectedFieldsOrdered): ReadPlan {
  const columns: ReadColumn[] = fields.map(({ field, path }) => {
    const key = path.length === 1 ? (path[0] ?? "") : "";
    if (is(field, PgTimestamp) && field.precision !== undefined && field.precision <= 3) {
      return { type: "double precision", convert: "epoch", key, decode: epochDate };
    }
    if (is(field, PgColumn)) {
      const column = field;
      return { type: column.getSQLType(), convert: "none", key, decode: (value) => column.mapFromDriverValue(value) };
    }
    const decoder = (field as { decoder?: { mapFromDriverValue(value: unknown): unknown } }).decoder;
    return {
      type: "text",
      convert: "text",
      key,
      decode: decoder ? (value) => decoder.mapFromDriverValue(value) : null,
    };
  });
  const flat = fields.every(({ path }) => path.length === 1);
  return { columns, mapRows: flat ? rowMapper(columns) : undefined };
}

const epochDate = (value: unknown) => new Date(value as number);

function rowMapper(columns: ReadColumn[]) {
  const keys = columns.map((column) => column.key);
  const decoders = columns.map((column) => column.decode);
  return (rows: unknown[][]) =>
    rows.map((row) => {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < keys.length; i++) {
        const value = row[i];
        const decode = decoders[i];
        out[keys[i] as string] = value === null || value === undefined || !decode ? (value ?? null) : decode(value);
      }
      return out;
    });
}

/**
 * A select's prepared-statement name on a connection: `bulkhead_read_` and the first 32 hex
 * digits of its text's SHA-256, which `app.read` checks whenever the text comes with it, so a
 * name always means one text, in every process sharing the connection (PgBouncer). Web Crypto:
 * the same in Node, workerd and the client's type-check.
 */
async function statementName(select: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(select)));
  let hex = "";
  for (let i = 0; i < 16; i++) hex += (digest[i] ?? 0).toString(16).padStart(2, "0");
  return `bulkhead_read_${hex}`;
}

/** The select as `app.read` runs it: wrapped to convert columns where the plan says so. */
function readSelect(select: string, plan: ReadPlan): string {
  const columns = plan.columns.map((column, i) => ({ ...column, name: `c${i}` }));
  const names = columns.map((column) => `"${column.name}"`).join(", ");
  const converted = (column: (typeof columns)[number]) =>
    column.convert === "epoch"
      ? `round(date_part('epoch', q."${column.name}") * 1000)`
      : column.convert === "text"
        ? `q."${column.name}"::text`
        : `q."${column.name}"`;
  return columns.every((column) => column.convert === "none")
    ? select
    : `select ${columns.map(converted).join(", ")} from (${select}) as q(${names})`;
}

/**
 * The statement that runs a select through `app.read`: the member's context, the select's name,
 * text and values (placeholders filled by `executeRead`), and the result's columns with their types.
 */
function readStatement(plan: ReadPlan): Query {
  const definition = plan.columns.map((column, i) => `"c${i}" ${column.type}`).join(", ");
  return {
    sql: `select * from app.read($1::uuid, $2::uuid, $3::integer, $4::uuid, $5::text, $6::text, $7::text, $8::text[], $9::text) as r(${definition})`,
    params: [...readParams, valuesParam, keyParam],
  };
}

/** A select's value as `app.read` takes it: text, which PostgreSQL casts to the parameter's type. */
function asText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return String(value);
  if (value instanceof Date) return value.toISOString();
  throw new Error(`one-statement reads take scalar values, not ${Object.prototype.toString.call(value)}`);
}
