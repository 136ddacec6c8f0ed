/**
 * The defences that live in TypeScript, each with the edit that removes it. The mutation check
 * (`npm run test:mutations`) applies one at a time to a copy of the working tree and runs the
 * suites named, which must then fail. Each edit must match exactly once: a row whose code has
 * moved fails the check instead of passing silently.
 */
export interface SourceEdit {
  file: string;
  find: string;
  replace: string;
}

export interface SourceDefence {
  name: string;
  description: string;
  edits: SourceEdit[];
  /** Test files (or folders) that must catch it. */
  suites: string[];
  /** Only the tests whose names match (vitest -t): keeps a row whose removal makes a test hang quick. */
  filter?: string;
  /**
   * The engines whose run checks it (default PGlite). A race that PGlite's serialised
   * transactions cannot show is checked in the PostgreSQL run (`-- --database` included).
   */
  engines?: ("pglite" | "postgres")[];
  /** Environment for the suites' run (a slow-tier file needs `BULKHEAD_TEST_TIER: "all"`). */
  env?: Record<string, string>;
}

const login = "server/auth/login.ts";
const registration = "server/auth/registration.ts";
const invitation = "server/auth/invitation.ts";
const tokens = "server/auth/tokens.ts";
const app = "server/app.ts";
const browserSession = "server/auth/browser.ts";
const sessions = "server/auth/sessions.ts";
const browser = "tests/browser/sessions.test.ts";
const passwords = "server/auth/passwords.ts";
const policy = "server/auth/password-policy.ts";
const passwordTests = "tests/auth/passwords.test.ts";
const verification = "server/auth/verification.ts";
const oneTimeTokens = "server/auth/one-time-tokens.ts";
const verificationTests = "tests/auth/verification.test.ts";
const unavailable = "tests/hardening/unavailable.test.ts";
const events = "server/routers/events.ts";
const hub = "server/events/hub.ts";
const mfa = "server/auth/mfa.ts";
const passkeysFile = "server/auth/passkeys.ts";
const mfaTests = "tests/auth/mfa.test.ts";

/** The audit policies' settings as migration 0017 reads them (through functions), and read raw, per row. */
const auditPolicySql = `"audit_events"."created_at" < now() - make_interval(days => app.audit_retention_days())
          or ("audit_events"."tenant_id" = app.current_tenant_id() and "audit_events"."tenant_id" = app.erasing_tenant_id()))`;
const rawSettings = (text: string) =>
  text
    .replace("app.audit_retention_days()", "nullif(current_setting('app.audit_retention_days', true), '')::integer")
    .replace(
      /("audit_events"\."tenant_id") = app\.erasing_tenant_id\(\)/,
      "$1::text = current_setting('app.erasing', true)",
    );

export const sourceDefences: SourceDefence[] = [
  {
    name: "dummy-hash",
    description: "an unknown tenant or user still costs one password verification",
    edits: [
      {
        file: login,
        find: "const hash = found.user?.passwordHash ?? (await ctx.dummyPasswordHash());",
        replace: "if (!found.user) throw unauthorized(); const hash = found.user.passwordHash;",
      },
    ],
    suites: ["tests/auth/login.test.ts"],
  },
  {
    name: "jwt-issuer",
    description: "access tokens must name our issuer",
    edits: [{ file: tokens, find: "issuer: this.config.issuer,\n", replace: "\n" }],
    suites: ["tests/auth/tokens.test.ts"],
  },
  {
    name: "jwt-audience",
    description: "access tokens must name our audience",
    edits: [{ file: tokens, find: "audience: this.config.audience,\n", replace: "\n" }],
    suites: ["tests/auth/tokens.test.ts"],
  },
  {
    name: "jwt-exp-required",
    description: "access tokens must carry an expiry",
    edits: [{ file: tokens, find: `"jti", "iat", "exp"]`, replace: `"jti", "iat"]` }],
    suites: ["tests/auth/tokens.test.ts"],
  },
  {
    name: "jwt-alg-pinned",
    description: "access tokens must be HS256, nothing else the key could verify",
    edits: [{ file: tokens, find: "algorithms: [algorithm],", replace: "" }],
    suites: ["tests/auth/tokens.test.ts"],
  },
  {
    name: "jwt-unknown-kid",
    description: "a token naming a key id we do not have is refused",
    edits: [
      {
        file: tokens,
        find: "const key = header.kid === undefined ? undefined : this.#keys.get(header.kid);",
        replace:
          "const key = (header.kid === undefined ? undefined : this.#keys.get(header.kid)) ?? this.#encodedCurrent;",
      },
    ],
    suites: ["tests/auth/tokens.test.ts"],
  },
  {
    name: "jwt-previous-key-length",
    description: "every verification key is at least 32 bytes",
    edits: [
      {
        file: "server/config.ts",
        find: "for (const key of raw.JWT_PREVIOUS_KEYS ?? []) {",
        replace: "for (const key of [] as SigningKey[]) {",
      },
    ],
    suites: ["tests/hardening/bad-input.test.ts"],
  },
  {
    name: "login-throttle",
    description: "login attempts are reserved before the password is hashed",
    edits: [{ file: login, find: "const wait = await takeAttempt(tx, throttle);", replace: "const wait = 0;" }],
    suites: ["tests/auth/login.test.ts", "tests/hardening/throttle.test.ts"],
  },
  {
    name: "login-throttle-first",
    description: "the attempt is reserved before the password is hashed, not recorded after a failure",
    edits: [
      { file: login, find: "const wait = await takeAttempt(tx, throttle);", replace: "const wait = 0;" },
      {
        file: login,
        find: "if (!valid || !found.tenantId || !found.user) throw unauthorized();",
        replace: `if (!valid || !found.tenantId || !found.user) {
        const wait = await withoutTenant(db, (tx) => takeAttempt(tx, throttle));
        throw wait > 0 ? tooMany(ctx.resHeaders, wait, "failed logins") : unauthorized();
      }`,
      },
    ],
    suites: ["tests/hardening/throttle.test.ts"],
    filter: "parallel|batch",
  },
  {
    name: "login-lockout-per-pair",
    description: "the tight login limit is per (account, address); per account it is loose",
    edits: [
      {
        file: "server/auth/throttle.ts",
        find: "const limits = [config.maxFailures, config.accountMaxFailures];",
        replace: "const limits = [config.maxFailures, config.maxFailures];",
      },
    ],
    suites: ["tests/hardening/throttle.test.ts"],
  },
  {
    name: "registration-throttle",
    description: "registrations per client address",
    edits: [
      {
        file: registration,
        find: `const wait = await withoutTenant(ctx.database.db, (tx) => takeAttempt(tx, throttle));
    if (wait > 0) throw tooMany(ctx.resHeaders, wait, "registrations from this address");`,
        replace: "",
      },
    ],
    suites: ["tests/auth/signup.test.ts", "tests/hardening/throttle.test.ts"],
  },
  {
    name: "invitation-throttle",
    description: "invitation acceptances per client address",
    edits: [
      {
        file: invitation,
        find: `const wait = await withoutTenant(ctx.database.db, (tx) => takeAttempt(tx, throttle));
    if (wait > 0) throw tooMany(ctx.resHeaders, wait, "failed invitations from this address");`,
        replace: "",
      },
    ],
    suites: ["tests/hardening/throttle.test.ts"],
  },
  {
    name: "refresh-reuse",
    description: "a replayed refresh token revokes its whole family (RFC 9700)",
    edits: [
      {
        file: "server/auth/refresh.ts",
        find: "      // Committed on purpose: the replay revokes every token of the family, the thief's and ours.\n      await revokeFamily(tx, { tenantId, userId: outcome.userId }, outcome.familyId, now);",
        replace: "",
      },
    ],
    suites: ["tests/auth/tokens.test.ts"],
  },
  {
    name: "procedure-after-membership",
    description: "no code of a tenant procedure runs before its transaction has confirmed the member",
    edits: [
      {
        file: "db/tenant.ts",
        find: "    async (tx) => {\n      const result = await tx.execute(\n        sql`select app.enter_member(",
        replace:
          '    async (tx) => {\n      const early = fn(tx, "member");\n      early.catch(() => undefined);\n      const result = await tx.execute(\n        sql`select app.enter_member(',
      },
      { file: "db/tenant.ts", find: "      return fn(tx, role);\n    },\n", replace: "      return early;\n    },\n" },
    ],
    suites: ["tests/isolation/attacks.test.ts"],
    filter: "no code of a procedure runs",
  },
  {
    name: "read-must-read",
    description: "a read procedure answers only after a read confirmed the member",
    edits: [{ file: "server/trpc.ts", find: "if (outcome.ok && !reads.confirmed()) {", replace: "if (false) {" }],
    suites: ["tests/isolation/attacks.test.ts"],
    filter: "no code of a procedure runs",
  },
  {
    name: "role-checks",
    description: "admin and owner procedures check the caller's current role",
    edits: [{ file: "server/trpc.ts", find: "if (!hasRole(role, minimum)) {", replace: "if (false) {" }],
    suites: ["tests/auth/members.test.ts"],
  },
  {
    name: "last-owner",
    description: "a tenant always keeps an owner",
    edits: [
      {
        file: "server/routers/members.ts",
        find: `if (target.role === "owner" && input.role !== "owner" && ownerCount <= 1) throw lastOwner();`,
        replace: "",
      },
    ],
    suites: ["tests/auth/members.test.ts"],
  },
  {
    name: "inviter-recheck",
    description: "an invitation works only while its inviter may still issue it",
    edits: [
      {
        file: invitation,
        find: `if (!inviter || !hasRole(inviter.role, "admin") || !hasRole(inviter.role, invitation.role)) {`,
        replace: "if (false) {",
      },
    ],
    suites: ["tests/hardening/invitations.test.ts"],
  },
  {
    name: "superjson-input-guard",
    description: "superjson meta is checked, in linear time, before superjson walks it",
    edits: [
      {
        file: "server/transformer.ts",
        find: "input: { serialize: (value) => superjson.serialize(value), deserialize: deserializeInput },",
        replace:
          "input: { serialize: (value) => superjson.serialize(value), deserialize: (value) => superjson.deserialize(value as never) },",
      },
    ],
    suites: ["tests/hardening/superjson.test.ts"],
    filter: "over HTTP",
  },
  {
    name: "control-characters",
    description: "text inputs refuse control characters and lone surrogates",
    edits: [
      {
        file: "server/validation.ts",
        find: "const noControl = (value: string) => !controlOrLoneSurrogate.test(value);",
        replace: "const noControl = (_value: string) => true;",
      },
    ],
    suites: ["tests/hardening/bad-input.test.ts"],
  },
  {
    name: "exact-cursor",
    description: "cursors are read exactly as PostgreSQL will read them",
    edits: [
      {
        file: "server/pagination.ts",
        find: "if (!parsed?.success || !isExactTimestamp(parsed.data[0])) {",
        replace: "if (!parsed?.success) {",
      },
    ],
    suites: ["tests/hardening/bad-input.test.ts"],
  },
  {
    name: "data-exception-is-400",
    description: "SQLSTATE class 22 is the input's fault: BAD_REQUEST",
    edits: [
      {
        file: "server/errors.ts",
        find: `if (code?.startsWith("22") || code?.startsWith("54")) {`,
        replace: "if (false) {",
      },
    ],
    suites: ["tests/hardening/bad-input.test.ts"],
  },
  {
    name: "no-internal-messages",
    description: "a request that cannot be read is answered in words meant for a person",
    edits: [{ file: "server/trpc.ts", find: "if (cause instanceof SyntaxError)", replace: "if (false)" }],
    suites: ["tests/hardening/bad-input.test.ts"],
  },
  {
    name: "log-without-parameters",
    description: "the log gets SQLSTATE, table and request id, never a query's parameters",
    edits: [
      {
        file: "server/trpc.ts",
        find: "...loggedError(result.error.cause ?? result.error),",
        replace: "error: String((result.error.cause as Error | undefined)?.message),",
      },
    ],
    suites: ["tests/hardening/bad-input.test.ts"],
  },
  {
    name: "log-no-query-text",
    description:
      "a failed query without a SQLSTATE (a lost connection) is logged as a database error, not drizzle's text",
    edits: [
      {
        file: "server/errors.ts",
        find: 'if (isDatabaseUnavailable(error) || chain.some((link) => "query" in link || "params" in link)) {',
        replace: "if (false) {",
      },
    ],
    suites: ["tests/errors.test.ts"],
  },
  {
    name: "audit-policies-initplan",
    description:
      "the owner role's audit policies read their settings through functions, not current_setting() per row, and the lints say when one does not",
    edits: [
      {
        file: "db/schema.ts",
        find: "sql`app.audit_retention_days()`",
        replace: "sql`nullif(current_setting('app.audit_retention_days', true), '')::integer`",
      },
      {
        file: "db/schema.ts",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the text of db/schema.ts
        find: "${tenant} = app.erasing_tenant_id())",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the text of db/schema.ts
        replace: "${tenant}::text = current_setting('app.erasing', true))",
      },
      ...(["selects", "deletes"] as const).map((command) => ({
        file: "drizzle/0017_citus_ready.sql",
        find: `${command} expired or erased audit events" ON "audit_events" TO bulkhead_owner USING (${auditPolicySql}`,
        replace: `${command} expired or erased audit events" ON "audit_events" TO bulkhead_owner USING (${rawSettings(auditPolicySql)}`,
      })),
    ],
    suites: ["tests/posture.test.ts"],
  },
  {
    name: "mailbox-private",
    description: "the development mailbox's files, which hold live links, are readable by their owner only",
    edits: [
      {
        file: "server/mail/transports.ts",
        find: "info.message as Buffer, { mode: 0o600 }",
        replace: "info.message as Buffer",
      },
    ],
    suites: ["tests/mail/file-mailbox.test.ts"],
  },
  {
    name: "mail-log-links",
    description: "the mailbox's log line carries a link only in development and when not turned off",
    edits: [
      { file: "server/mail/transports.ts", find: "options.logLinks && mail.link ?", replace: "mail.link ?" },
      {
        file: "server/mail/transports.ts",
        find: 'env.NODE_ENV === "development" && env.MAIL_LOG_LINKS',
        replace: "true",
      },
    ],
    suites: ["tests/mail/file-mailbox.test.ts"],
  },
  {
    name: "own-origin-from-config",
    description: "cookie mode's own origin is APP_URL's, never the Host a request names",
    edits: [
      { file: "server/auth/browser.ts", find: "origin === config.browser.ownOrigin", replace: "origin === url.origin" },
    ],
    suites: ["tests/browser/sessions.test.ts"],
  },
  {
    name: "hashes-per-request",
    description: "one HTTP request, a batch included, buys at most two password hashes",
    edits: [
      {
        file: "server/app.ts",
        find: "budgetHashing(hasher, hashesPerRequest, {",
        replace: "budgetHashing(hasher, Number.POSITIVE_INFINITY, {",
      },
    ],
    suites: ["tests/hardening/hashing.test.ts"],
    filter: "buys at most 2 hashes",
  },
  {
    name: "hashing-concurrency",
    description: "the process runs at most PASSWORD_HASHING_CONCURRENCY hashes at once",
    edits: [{ file: "server/auth/hashing.ts", find: "if (running >= limits.concurrency) {", replace: "if (false) {" }],
    suites: ["tests/hardening/hashing.test.ts"],
    filter: "runs at most the configured number of hashes",
  },
  {
    name: "hashing-queue-bound",
    description: "at most 64 hashes wait; the next is turned away with 429",
    edits: [
      {
        file: "server/auth/hashing.ts",
        find: "if (waiting.length >= limits.maxWaiting) throw new HashingBusy();",
        replace: "",
      },
    ],
    suites: ["tests/hardening/hashing.test.ts"],
    filter: "runs at most the configured number of hashes",
  },
  {
    name: "signups-count-successes",
    description: "a valid invitation acceptance counts against the address's sign-up limit",
    edits: [
      {
        file: "server/auth/invitation.ts",
        find: "    { statementTimeoutMs: ctx.config.statementTimeoutMs },\n  );\n  return session;",
        replace:
          '    { statementTimeoutMs: ctx.config.statementTimeoutMs },\n  );\n  if (throttle) await (await import("./throttle.js")).giveBackAttempt(ctx.database.db, throttle);\n  return session;',
      },
    ],
    suites: ["tests/hardening/hashing.test.ts"],
    filter: "counts successful acceptances",
  },
  {
    name: "recheck-per-account",
    description: "a member's password re-check counts per account, not per shared address",
    edits: [
      {
        file: "server/auth/passwords.ts",
        find: "const throttle = await recheckThrottle(ctx.config.login, member);",
        replace:
          'const throttle = await (await import("./throttle.js")).loginThrottle(ctx.config.login, member.tenantId, member.userId, ctx.clientAddress);',
      },
    ],
    suites: ["tests/hardening/hashing.test.ts"],
    filter: "counts a member.s password re-checks",
  },
  {
    name: "recheck-counts-successes",
    description: "a right password in a re-check gives nothing back",
    edits: [
      {
        file: "server/auth/passwords.ts",
        find: "is not your current password` });\n  }\n}",
        replace:
          'is not your current password` });\n  }\n  await (await import("./throttle.js")).giveBackAttempt(ctx.database.db, throttle);\n}',
      },
    ],
    suites: ["tests/hardening/hashing.test.ts"],
    filter: "counts a member.s password re-checks",
  },
  {
    name: "mail-names-cut",
    description: "names in mail (subject and body) are cut to 60 characters",
    edits: [{ file: "server/mail/messages.ts", find: "return chars.length > mailNameLength", replace: "return false" }],
    suites: ["tests/mail/messages.test.ts"],
  },
  {
    name: "response-timeout",
    description: "a statement left unanswered (a partition) ends its connection in time; the request answers 503",
    engines: ["postgres"],
    edits: [
      {
        file: "db/postgres.ts",
        find: "...(options.responseTimeoutMs ? { response_timeout: options.responseTimeoutMs / 1000 } : {}),",
        replace: "",
      },
    ],
    suites: ["tests/hardening/partition.test.ts"],
  },
  {
    name: "schema-rule-owner",
    description: "a tenant table not owned by bulkhead_owner is refused at start",
    edits: [
      {
        file: "db/schema-rules.ts",
        find: "where pg_catalog.pg_get_userbyid(t.relowner) <> $" + "{ownerRole}",
        replace: "where false",
      },
    ],
    suites: ["tests/posture.test.ts"],
  },
  {
    name: "schema-rule-fk",
    description: "a foreign key between tenant tables without tenant_id is refused at start",
    edits: [{ file: "db/schema-rules.ts", find: "where con.contype = 'f'", replace: "where false" }],
    suites: ["tests/posture.test.ts"],
  },
  {
    name: "schema-rule-unique",
    description: "a unique index on a tenant table without tenant_id is refused at start",
    edits: [{ file: "db/schema-rules.ts", find: "where i.indisunique", replace: "where false" }],
    suites: ["tests/posture.test.ts"],
  },
  {
    name: "schema-rule-leading-index",
    description: "a tenant table no index leads with tenant_id is refused at start",
    edits: [
      {
        file: "db/schema-rules.ts",
        find: "where not exists (select 1 from pg_catalog.pg_index i where i.indrelid = t.oid and i.indkey[0] = t.tenant_col)",
        replace: "where false",
      },
    ],
    suites: ["tests/posture.test.ts"],
  },
  {
    name: "schema-rule-grants",
    description: "a grant to the runtime role beyond the declared set is refused at start",
    edits: [
      {
        file: "db/schema-rules.ts",
        find: "return found.filter((problem) => !declaredGrant(problem));",
        replace: 'return found.filter((problem) => !problem.includes("runtime role"));',
      },
    ],
    suites: ["tests/posture.test.ts"],
  },
  {
    name: "export-knows-every-table",
    description: "a tenant table the export neither exports nor declares left out fails a test naming it",
    edits: [{ file: "server/tenant/export.ts", find: '  outbox: "mail in flight, erased once sent",\n', replace: "" }],
    suites: ["tests/tenant-coverage.test.ts"],
  },
  {
    name: "fuzzer-knows-every-table",
    description: "a tenant table the model fuzzer neither models nor declares covered elsewhere fails a test naming it",
    edits: [{ file: "tests/fuzz/model.ts", find: '  outbox: "tests/mail/outbox.test.ts",\n', replace: "" }],
    suites: ["tests/tenant-coverage.test.ts"],
  },
  {
    name: "erase-knows-every-table",
    description: "a tenant table the erase neither batches nor declares cascaded fails a test naming it",
    edits: [
      {
        file: "db/erase.ts",
        find: '  invitations: "with the tenant: at most 1,000 pending per workspace (a quota)",\n',
        replace: "",
      },
    ],
    suites: ["tests/tenant-coverage.test.ts"],
  },
  {
    name: "doctor-pooler-prepare",
    description: "npm run doctor fails on named prepared statements behind a pooler",
    engines: ["postgres"],
    edits: [{ file: "db/doctor.ts", find: "if (pooled && options.prepare) {", replace: "if (false) {" }],
    suites: ["tests/doctor.test.ts"],
  },
  {
    name: "doctor-owner-login",
    description: "npm run doctor fails on an owner role that can log in",
    engines: ["postgres"],
    edits: [{ file: "db/doctor.ts", find: "if (owner.login && !options.allowOwnerLogin)", replace: "if (false)" }],
    suites: ["tests/doctor.test.ts"],
  },
  {
    name: "forwarded-rightmost",
    description: "behind a proxy, the client is the entry our proxy appended, not the one the client wrote",
    edits: [{ file: "server/app.ts", find: "entries[entries.length - hops]", replace: "entries[0]" }],
    suites: ["tests/hardening/proxy.test.ts"],
  },
  {
    name: "host-normalised",
    description: "the host's trailing dot, case and port do not change the tenant it names",
    edits: [
      {
        file: "server/context.ts",
        find: `return host.toLowerCase().replace(/\\.$/, "");`,
        replace: "return host.toLowerCase();",
      },
    ],
    suites: ["tests/hardening/host.test.ts"],
  },
  {
    name: "host-exact-subdomain",
    description: "a host under BASE_DOMAIN that is not exactly <slug>.<BASE_DOMAIN> is refused",
    edits: [
      {
        file: "server/context.ts",
        find: `if (!sub || sub.includes(".")) throw new TenantHintError("host is not <slug>.BASE_DOMAIN");`,
        replace: `if (!sub || sub.includes(".")) return explicit;`,
      },
    ],
    suites: ["tests/hardening/host.test.ts"],
  },
  {
    name: "hints-agree",
    description: "X-Tenant and the host must name the same tenant",
    edits: [
      {
        file: "server/context.ts",
        find: "if (explicit !== null && fromHost !== null && explicit !== fromHost) {",
        replace: "if (false) {",
      },
    ],
    suites: ["tests/hardening/host.test.ts"],
  },
  {
    name: "cors-allowlist",
    description: "only CORS_ORIGINS get CORS headers",
    edits: [
      {
        file: app,
        find: "if (origin && origins.includes(origin)) return allowCors(c, next);",
        replace: "if (origin) return allowCors(c, next);",
      },
    ],
    suites: [browser],
  },
  {
    name: "cors-foreign-preflight",
    description: "a foreign origin's preflight gets a bare 403",
    edits: [{ file: app, find: `if (origin && c.req.method === "OPTIONS") return c.body(null, 403);`, replace: "" }],
    suites: [browser],
  },
  {
    name: "secure-headers",
    description: "every response carries the secure headers",
    edits: [
      {
        file: app,
        find: "  const appHeaders = secureHeaders({",
        replace: "  const appHeaders = ((_options: unknown) => (_c: unknown, next: () => Promise<void>) => next())({",
      },
    ],
    suites: [browser],
  },
  {
    name: "cookie-http-only",
    description: "the refresh cookie is HttpOnly",
    edits: [{ file: browserSession, find: "httpOnly: true,", replace: "httpOnly: false," }],
    suites: [browser],
  },
  {
    name: "cookie-same-site",
    description: "the refresh cookie is SameSite=Strict",
    edits: [{ file: browserSession, find: `sameSite: "Strict",`, replace: `sameSite: "Lax",` }],
    suites: [browser],
  },
  {
    name: "cookie-path",
    description: "the refresh cookie goes only to the refresh URL",
    edits: [{ file: browserSession, find: "path: refreshCookiePath,", replace: `path: "/",` }],
    suites: [browser],
  },
  {
    name: "cookie-secure",
    description: "Secure is dropped only for plain-HTTP loopback outside production",
    edits: [{ file: browserSession, find: "    config.browser.allowInsecureLocalhost &&\n", replace: "" }],
    suites: [browser],
  },
  {
    name: "cookie-not-in-body",
    description: "in cookie mode no response body holds the refresh token",
    edits: [
      {
        file: browserSession,
        find: "      return visible;",
        replace: "      return { ...visible, refreshToken: session.refreshToken };",
      },
    ],
    suites: [browser],
  },
  {
    name: "csrf-origin",
    description: "the cookie is used, and cookie mode granted, only for an allowed Origin",
    edits: [{ file: browserSession, find: "&& !originAllowed) {", replace: "&& false) {" }],
    suites: [browser],
  },
  {
    name: "csrf-header",
    description: "the cookie refreshes only with the X-Bulkhead-Session header a form cannot send",
    edits: [{ file: browserSession, find: "if (usesCookie && cookieToken && !cookieMode) {", replace: "if (false) {" }],
    suites: [browser],
  },
  {
    name: "reuse-window-bounded",
    description: "a replay after the reuse window revokes the family",
    edits: [
      {
        file: sessions,
        find: "now.getTime() - known.usedAt.getTime() <= reuseSeconds * 1000",
        replace: "now.getTime() - known.usedAt.getTime() >= 0",
      },
    ],
    suites: [browser],
  },
  {
    name: "reuse-window-same-token",
    description: "tabs refreshing at once get one rotated token (derived), not a live one each",
    edits: [
      {
        file: sessions,
        find: "child: { token: child as string, stored: false }",
        replace: `child: { token: makeOpaqueToken("rt", tenantId), stored: false }`,
      },
    ],
    suites: [browser],
  },
  {
    name: "reuse-window-live-family",
    description: "inside the window, an ended session's token still gets nothing",
    edits: [
      { file: sessions, find: "if (known.usedAt && !known.revokedAt && ", replace: "if (known.usedAt && " },
      {
        file: sessions,
        find: "          isNull(refreshTokens.revokedAt),\n          gt(refreshTokens.expiresAt, now),",
        replace: "          gt(refreshTokens.expiresAt, now),",
      },
    ],
    suites: [browser],
  },
  {
    name: "reset-tenant-hint",
    description: "a reset token works only for the tenant the request names",
    edits: [
      { file: passwords, find: "(ctx.tenantHint !== null && ctx.tenantHint !== account.slug)", replace: "false" },
    ],
    suites: [passwordTests],
    filter: "refuses tenant A.s token on a request naming tenant B",
  },
  {
    name: "reset-dies-with-password",
    description: "any password change kills the user's outstanding reset tokens",
    edits: [
      {
        file: passwords,
        find: "  await tx\n    .update(passwordResets)",
        replace: "  void tx\n    .update(passwordResets)",
      },
    ],
    suites: [passwordTests],
    filter: "refuses a token issued before the password changed",
  },
  {
    name: "password-change-ends-sessions",
    description: "a reset ends every session of the user, a change every other one",
    edits: [
      {
        file: passwords,
        find: "  await revokeSessions(tx, who, now, keepSession ? { except: keepSession } : {});",
        replace: "",
      },
    ],
    suites: [passwordTests],
    filter: "ends every session of the user",
  },
  {
    name: "password-change-keeps-current",
    description: "a password change keeps the session that made it",
    edits: [{ file: passwords, find: "keepSession ? { except: keepSession } : {}", replace: "{}" }],
    suites: [passwordTests],
    filter: "needs the current password, ends every other session",
  },
  {
    name: "reset-request-floor",
    description: "reset requests take the same time whether or not the account exists",
    edits: [{ file: passwords, find: "  await floor;\n", replace: "\n" }],
    suites: [passwordTests],
    filter: "byte for byte alike, and no sooner than the floor",
  },
  {
    name: "reset-request-throttle",
    description: "reset requests are throttled per account and address",
    edits: [
      {
        file: passwords,
        find: `if (wait > 0) throw tooMany(ctx.resHeaders, wait, "password reset requests");`,
        replace: "",
      },
    ],
    suites: [passwordTests],
    filter: "is throttled per account, whether or not it exists",
  },
  {
    name: "change-verifies-current",
    description: "a password change, or a workspace deletion, needs the current password",
    edits: [
      {
        file: passwords,
        find: "if (!(await ctx.hasher.verify(account.passwordHash, password))) {",
        replace: "if (!(await ctx.hasher.verify(account.passwordHash, password)) && false) {",
      },
    ],
    suites: [passwordTests, "tests/tenant-lifecycle.test.ts"],
    filter: "needs the current password, ends every other session",
  },
  {
    name: "change-throttle",
    description: "password re-checks (a change, a deletion) are throttled per account",
    edits: [
      {
        file: passwords,
        find: `if (wait > 0) throw tooMany(ctx.resHeaders, wait, "password checks");`,
        replace: "",
      },
    ],
    suites: [passwordTests],
    filter: "is throttled like a login",
  },
  {
    name: "policy-email",
    description: "a new password may not contain the email",
    edits: [{ file: policy, find: `    return "must not contain your email address";`, replace: "" }],
    suites: [passwordTests],
    filter: "refuses the email, the workspace.s name and common passwords",
  },
  {
    name: "policy-workspace",
    description: "a new password may not contain the workspace's name",
    edits: [
      {
        file: policy,
        find: `if (workspace.length >= 4 && squeezed.includes(workspace)) return "must not contain the workspace's name";`,
        replace: "",
      },
    ],
    suites: [passwordTests],
    filter: "refuses the email, the workspace.s name and common passwords",
  },
  {
    name: "policy-common",
    description: "a new password may not be a common one",
    edits: [
      {
        file: policy,
        find: "if (commonPasswords.has(candidate) || commonPasswords.has(squeezed)) {",
        replace: "if (false) {",
      },
    ],
    suites: [passwordTests],
    filter: "refuses the email, the workspace.s name and common passwords",
  },
  {
    name: "session-revoke-own-only",
    description: "a user ends only their own sessions",
    edits: [
      {
        file: "server/auth/sessions.ts",
        find: "        eq(refreshTokens.userId, userId),\n        isNull(refreshTokens.revokedAt),\n        ...which,",
        replace: "        isNull(refreshTokens.revokedAt),\n        ...which,",
      },
    ],
    suites: ["tests/auth/sessions.test.ts"],
  },
  {
    name: "sign-out-role-check",
    description: "an admin cannot sign out an owner",
    edits: [{ file: "server/routers/members.ts", find: "if (!hasRole(role, target.role)) {", replace: "if (false) {" }],
    suites: ["tests/auth/sessions.test.ts"],
  },
  {
    name: "verify-tenant-hint",
    description: "a verification token works only for the tenant the request names",
    edits: [
      { file: verification, find: "if (tenant?.slug !== ctx.tenantHint) throw invalidVerification();", replace: "" },
    ],
    suites: [verificationTests],
  },
  {
    name: "verify-resend-throttle",
    description: "verification mails are resent a few times per window only",
    edits: [
      {
        file: verification,
        find: `if (wait > 0) throw tooMany(ctx.resHeaders, wait, "verification mails");`,
        replace: "",
      },
    ],
    suites: [verificationTests],
  },
  {
    name: "verified-only-for-changes",
    description: "where the tenant requires it, unverified members' changes are refused",
    edits: [
      {
        file: "server/trpc.ts",
        find: `verifiedOnly: write && !path.startsWith("auth.")`,
        replace: "verifiedOnly: false",
      },
    ],
    suites: [verificationTests],
  },
  {
    name: "one-time-token-single-use",
    description: "a reset or verification token works once",
    edits: [{ file: oneTimeTokens, find: "isNull(table.usedAt), ", replace: "" }],
    suites: [passwordTests, verificationTests],
    filter: "the token sets a new password once",
  },
  {
    name: "one-time-token-expires",
    description: "a reset or verification token expires",
    edits: [{ file: oneTimeTokens, find: ", gt(table.expiresAt, now))", replace: ")" }],
    suites: [passwordTests, verificationTests],
    filter: "refuses an expired token",
  },
  {
    name: "database-unavailable-503",
    description: "an unreachable database answers 503 SERVICE_UNAVAILABLE, not 500",
    edits: [
      {
        file: "server/errors.ts",
        find: "if (isDatabaseUnavailable(error)) return databaseUnavailable(error);",
        replace: "",
      },
    ],
    suites: [unavailable],
  },
  {
    name: "database-unavailable-retry-after",
    description: "a 503 for an unreachable database carries Retry-After",
    edits: [
      { file: "server/trpc.ts", find: `ctx.resHeaders.set("retry-after", String(retryAfterSeconds));`, replace: "" },
    ],
    suites: [unavailable],
  },
  {
    name: "driver-backoff-cap",
    description: "the driver's pause between connection attempts stays under the connect bound",
    edits: [
      {
        file: "db/postgres.ts",
        find: "backoff: backoffSeconds(connectTimeoutMs),\n    // TCP keepalive",
        replace: "// TCP keepalive",
      },
    ],
    suites: [unavailable],
  },
  {
    name: "readyz-bound",
    description: "/readyz answers within a second when the database does not",
    edits: [
      {
        file: app,
        find: "        readinessTimeoutMs,\n",
        replace: "        3_600_000,\n",
      },
    ],
    suites: [unavailable],
    filter: "readyz",
  },
  {
    name: "metrics-token",
    description: "/metrics on the API's port answers only the METRICS_TOKEN bearer",
    edits: [
      { file: app, find: `app.get("/metrics", bearerAuth({ token: metricsToken }), `, replace: `app.get("/metrics", ` },
    ],
    suites: ["tests/observability.test.ts"],
  },
  {
    name: "metrics-known-procedures",
    description: "only procedure names the router has become metric labels",
    edits: [
      {
        file: "server/observability/access-log.ts",
        find: `return known.has(decoded) ? decoded : "unknown";`,
        replace: "return decoded;",
      },
    ],
    suites: ["tests/observability.test.ts"],
  },
  {
    name: "export-owner-only",
    description: "GET /export serves the tenant's owner only",
    edits: [
      {
        file: "server/tenant/export-route.ts",
        find: `if (role !== "owner") throw new TRPCError({ code: "FORBIDDEN", message: "Requires the owner role" });`,
        replace: "",
      },
    ],
    suites: ["tests/tenant-export.test.ts"],
    filter: "is the owner.s alone",
  },
  {
    name: "export-one-snapshot",
    description: "an export reads every table in one REPEATABLE READ snapshot",
    edits: [
      {
        file: "server/tenant/export-route.ts",
        find: `{ write: false, isolation: "repeatable read" }`,
        replace: "{ write: false }",
      },
    ],
    suites: ["tests/tenant-export.test.ts"],
    filter: "streams every row of the owner.s tenant",
  },
  {
    name: "export-ticket-purpose",
    description: "an export ticket is not an access token, nor an access token a ticket",
    edits: [
      {
        file: "server/auth/tokens.ts",
        find: "claimsSchema.extend({ typ: z.literal(purpose) })",
        replace: "claimsSchema.extend({ typ: z.string() })",
      },
    ],
    suites: ["tests/tenant-export.test.ts"],
    filter: "a ticket is no access token",
  },
  {
    name: "export-stall-ends",
    description: "an export whose client takes no data ends, and lets go of its connection",
    edits: [
      {
        file: "server/tenant/export-route.ts",
        find: "Math.max(Math.min(left, stallMs), 0)",
        replace: "Math.max(left, 0)",
      },
    ],
    suites: ["tests/tenant-export.test.ts"],
    filter: "cannot hold the database",
  },
  {
    name: "export-concurrency",
    description: "at most two exports run at once per process",
    edits: [
      {
        file: "server/tenant/export-route.ts",
        find: "if (deps.running.size >= maxConcurrentExports) {",
        replace: "if (false) {",
      },
    ],
    suites: ["tests/tenant-export.test.ts"],
    filter: "cannot hold the database",
  },
  {
    name: "export-get-only",
    description: "HEAD, which would start an export nobody reads, is refused",
    edits: [
      {
        file: "server/tenant/export-route.ts",
        find: `if (c.req.method !== "GET") return`,
        replace: `if (false) return`,
      },
    ],
    suites: ["tests/tenant-export.test.ts"],
    filter: "cannot hold the database",
  },
  {
    name: "rotation-waits-for-revocation",
    description: "a refresh token is spent only under its user's lock, so a revocation in flight is seen",
    edits: [{ file: sessions, find: `await holdUser(tx, tenantId, owner, "share");`, replace: "" }],
    suites: ["tests/hardening/revocation-race.test.ts"],
    filter: "everywhere",
    engines: ["postgres"],
  },
  {
    name: "revocation-waits-for-rotation",
    description: "a revocation takes its user's lock first, so it sees a rotation's child",
    edits: [{ file: sessions, find: `await holdUser(tx, tenantId, userId, "no key update");`, replace: "" }],
    suites: ["tests/hardening/revocation-race.test.ts"],
    filter: "everywhere",
    engines: ["postgres"],
  },
  {
    name: "export-one-per-tenant",
    description: "one export runs per tenant, so one tenant cannot take every slot",
    edits: [
      {
        file: "server/tenant/export-route.ts",
        find: "if (deps.running.has(claims.tenantId)) {",
        replace: "if (false) {",
      },
    ],
    suites: ["tests/tenant-export.test.ts"],
    filter: "cannot hold the database",
  },
  {
    name: "export-least-rate",
    description: "an export read below EXPORT_MIN_BYTES_PER_SECOND ends",
    edits: [
      {
        file: "server/tenant/export-route.ts",
        find: "if (elapsedMs > stallMs && this.#bytes <",
        replace: "if (false && this.#bytes <",
      },
    ],
    suites: ["tests/tenant-export.test.ts"],
    filter: "least rate",
  },
  {
    name: "export-deadline",
    description: "an export past EXPORT_MAX_SECONDS ends, however it is read",
    edits: [
      {
        file: "server/tenant/export-route.ts",
        find: "Math.max(Math.min(left, stallMs), 0), left < stallMs ? late : stalled",
        replace: "stallMs, stalled",
      },
      { file: "server/tenant/export-route.ts", find: "if (elapsedMs > maxMs) throw late();", replace: "" },
    ],
    suites: ["tests/tenant-export.test.ts"],
    filter: "EXPORT_MAX_SECONDS",
  },
  {
    name: "export-spool",
    description: "on PGlite an export is spooled, so a slow reader does not hold the one connection",
    edits: [{ file: "server/tenant/export-route.ts", find: "if (request.database.spool) {", replace: "if (false) {" }],
    suites: ["tests/tenant-export.test.ts"],
    filter: "least rate",
  },
  {
    name: "export-idle-timeout",
    description: "PostgreSQL ends an export's transaction that sits idle",
    edits: [
      {
        file: "server/tenant/export-route.ts",
        find: "await tx.execute(sql`select set_config('idle_in_transaction_session_timeout', $" + "{idleMs}, true)`);",
        replace: "",
      },
    ],
    suites: ["tests/tenant-export.test.ts"],
    filter: "sits idle",
    engines: ["postgres"],
  },
  {
    name: "export-ticket-once",
    description: "an export ticket works once",
    edits: [
      {
        file: "server/tenant/export-route.ts",
        find: "if (!access && !(await spendOnce(",
        replace: "if (!access && false && !(await spendOnce(",
      },
    ],
    suites: ["tests/tenant-export.test.ts"],
    filter: "one-minute link|two server instances",
  },
  {
    name: "context-by-set-local",
    description: "functions set app.* settings with SET LOCAL, which Citus forwards to its workers",
    edits: [
      {
        file: "db/sql/functions/set_context.sql",
        find: `  EXECUTE pg_catalog.format('SET LOCAL app.tenant_id = %L; SET LOCAL app.user_id = %L',
                            coalesce(p_tenant::text, ''), coalesce(p_user::text, ''));`,
        replace: `  PERFORM pg_catalog.set_config('app.tenant_id', coalesce(p_tenant::text, ''), true);
  PERFORM pg_catalog.set_config('app.user_id', coalesce(p_user::text, ''), true);`,
      },
    ],
    suites: ["tests/posture.test.ts"],
    filter: "passes on the migrated database|set_config",
  },
  {
    name: "assignee-cleanup",
    description: "removing a member unassigns their tasks first (the assignee key is NO ACTION, as Citus needs)",
    edits: [
      {
        file: "server/routers/members.ts",
        find: ".where(and(eq(tasks.tenantId, tenantId), eq(tasks.assigneeId, input.userId)))",
        replace: ".where(sql`false`)",
      },
    ],
    suites: ["tests/tasks.test.ts"],
    filter: "removing a member",
  },
  {
    name: "registration-atomic",
    description: "a registration is one transaction: a failure after the tenant row leaves nothing behind",
    edits: [
      {
        file: registration,
        find: `const result = await tx.execute(
        sql\`select tenant_id, user_id from app.register_tenant(`,
        replace: `const result = await withoutTenant(ctx.database.db, (own) => own.execute(
        sql\`select tenant_id, user_id from app.register_tenant(`,
      },
      { file: registration, find: "$" + "{passwordHash})`,\n      );", replace: "$" + "{passwordHash})`,\n      ));" },
    ],
    suites: ["tests/auth/login.test.ts"],
    filter: "is atomic",
    // A second transaction inside the first needs a second connection: PGlite has one.
    engines: ["postgres"],
  },
  {
    name: "routing-names-tenant",
    description: "every statement on a tenant table names its tenant, so Citus routes it to one shard",
    edits: [
      {
        file: "server/routers/projects.ts",
        find: `        .delete(projects)
        .where(and(eq(projects.tenantId, ctx.member.tenantId), eq(projects.id, input.id)))`,
        replace: `        .delete(projects)
        .where(eq(projects.id, input.id))`,
      },
    ],
    suites: ["tests/query-plans.test.ts"],
    filter: "single shard",
    // PostgreSQL is where postgres.js reports the statements it sends.
    engines: ["postgres"],
  },
  {
    name: "jobs-pool-backlog",
    description: "the outbox backlog, a query across every tenant, runs on the jobs' pool, not the requests'",
    edits: [
      {
        file: "server/observability/metrics.ts",
        find: "value: outboxBacklog(jobs ?? database) };",
        replace: "value: outboxBacklog(database) };",
      },
    ],
    suites: ["tests/observability.test.ts"],
    filter: "jobs' pool",
  },
  {
    name: "jobs-pool",
    description: "the dispatcher, the pruner and the metrics' backlog run on the jobs' pool, never the requests'",
    edits: [
      { file: "server/node.ts", find: "createMetrics(database, jobs)", replace: "createMetrics(database, database)" },
      {
        file: "server/node.ts",
        find: "          db: jobs.db,\n          transport,",
        replace: "          db: database.db,\n          transport,",
      },
      {
        file: "server/node.ts",
        find: "          db: jobs.db,\n          logger,",
        replace: "          db: database.db,\n          logger,",
      },
      { file: "server/node.ts", find: "          database: jobs,", replace: "          database," },
    ],
    suites: ["tests/server.slow.test.ts"],
    filter: "unmigrated database",
    engines: ["postgres"],
    env: { BULKHEAD_TEST_TIER: "all" },
  },
  {
    name: "event-reads-tenant-context",
    description:
      "a stream reads its events under RLS in the subscriber's tenant: with the read's own tenant filter gone too (a fan-out bug), it still carries nothing of another tenant",
    edits: [
      {
        file: "drizzle/0018_events.sql",
        find: `CREATE POLICY "events are seen and written only within their tenant" ON "events" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("events"."tenant_id" = app.current_tenant_id()) WITH CHECK ("events"."tenant_id" = app.current_tenant_id());`,
        replace: `CREATE POLICY "events are seen and written only within their tenant" ON "events" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING (true) WITH CHECK (true);`,
      },
      {
        file: events,
        find: ".where(and(eq(events.tenantId, tenantId), gt(events.id, after)))",
        replace: ".where(gt(events.id, after))",
      },
    ],
    suites: ["tests/events.test.ts"],
    filter: "none of another tenant",
  },
  {
    name: "stream-membership-recheck",
    description: "every read of a stream re-checks the member: a removed member's stream ends",
    edits: [
      {
        file: events,
        find: "const rows = await reads.run(input.projectId ? projectEventsAfter : eventsAfter, values);",
        replace:
          "const rows = await reads.run(input.projectId ? projectEventsAfter : eventsAfter, values).catch(() => []);",
      },
    ],
    suites: ["tests/events.test.ts"],
    filter: "removed member",
  },
  {
    name: "stream-cursor-clamp",
    description:
      "a lastEventId past the tenant's last (another tenant's) starts at the last: nothing of one's own is lost",
    edits: [
      {
        file: events,
        find: "Math.min(Number(input.lastEventId), last)",
        replace: "Number(input.lastEventId)",
      },
    ],
    suites: ["tests/events.test.ts"],
    filter: "another tenant replays nothing",
  },
  {
    name: "stream-caps",
    description: "live streams are capped per user and per workspace",
    edits: [
      { file: hub, find: "if (held >= maxPerUser) {", replace: "if (false) {" },
      { file: hub, find: "if (waiters.size >= maxPerTenant) {", replace: "if (false) {" },
    ],
    suites: ["tests/events-hub.test.ts", "tests/events.test.ts"],
    filter: "limit|caps",
  },
  {
    name: "stream-stall-cutoff",
    description: "a client that stops reading has its stream cut, and it holds one chunk meanwhile",
    edits: [
      {
        file: hub,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the text of server/events/hub.ts
        find: "timer = setTimeout(() => cut?.(new Error(`the client took nothing for ${stallMs} ms`)), stallMs);",
        replace: "",
      },
    ],
    suites: ["tests/events-hub.test.ts"],
  },
  {
    name: "stream-tenant-hints-agree",
    description: "a tenant in connectionParams must agree with X-Tenant and the host",
    edits: [
      {
        file: app,
        find: "if (hint !== null && hint !== named)\n",
        replace: "if (false)\n",
      },
    ],
    suites: ["tests/events.test.ts"],
    filter: "connectionParams",
  },
  {
    name: "shutdown-cuts-streams",
    description:
      "SIGTERM cuts the live streams, so the server stops within SHUTDOWN_TIMEOUT_MS instead of waiting on them",
    edits: [{ file: "server/node.ts", find: "    await events.close();\n", replace: "" }],
    suites: ["tests/server.slow.test.ts"],
    filter: "serves, keeps data",
    env: { BULKHEAD_TEST_TIER: "all" },
  },
  {
    name: "webhook-connect-guard",
    description:
      "a webhook's host is resolved and checked at every connection: a name that resolves to loopback is refused",
    edits: [
      {
        file: "server/webhooks/targets.ts",
        find: "connect: allowPrivate ? {} : { lookup: guardedLookup as never },",
        replace: "connect: {},",
      },
    ],
    suites: ["tests/webhooks.test.ts"],
    filter: "connection time",
  },
  {
    name: "webhook-save-guard",
    description: "a webhook URL naming a private or loopback address is refused when saved",
    edits: [
      {
        file: "server/webhooks/addresses.ts",
        find: 'if (ipVersion(host) !== 0 && isPrivateAddress(host)) return "must not point at a private or loopback address";',
        replace: "",
      },
    ],
    suites: ["tests/webhooks.test.ts"],
    filter: "refuses to save",
  },
  {
    name: "webhook-signature",
    description: "each delivery is signed over its id, timestamp and the very body sent",
    edits: [
      {
        file: "server/webhooks/dispatcher.ts",
        find: "new Webhook(secret).sign(id, at, body)",
        replace: 'new Webhook(secret).sign(id, at, "{}")',
      },
    ],
    suites: ["tests/webhooks.test.ts"],
    filter: "signed as Standard Webhooks",
  },
  {
    name: "webhook-disable-after-dead",
    description: "an endpoint is disabled after WEBHOOK_DISABLE_AFTER dead deliveries in a row",
    edits: [
      {
        file: "db/sql/functions/webhook_settle.sql",
        find: "enabled = w.enabled AND w.consecutive_dead + 1 < p_disable_after,",
        replace: "enabled = w.enabled,",
      },
    ],
    suites: ["tests/webhooks.test.ts"],
    filter: "disable the endpoint",
  },
  {
    name: "webhook-claim-recheck",
    description: "a webhook delivery is claimed by one dispatcher only: the claim re-checks the row it takes",
    edits: [
      {
        file: "db/sql/functions/webhook_claim.sql",
        find: "       AND d.status = 'pending' AND (d.claimed_until IS NULL OR d.claimed_until < v_now)\n",
        replace: "",
      },
    ],
    suites: ["tests/webhooks.test.ts"],
    filter: "racing",
    engines: ["postgres"],
  },
  {
    name: "session-end-wakes-streams",
    description: "ending a session wakes the tenant's live streams, so a signed-out one ends at once, not at its poll",
    edits: [
      {
        file: "server/auth/sessions.ts",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the text of server/auth/sessions.ts
        find: "  if (ended.length > 0) await tx.execute(sql`select pg_notify(${eventsChannel}, ${who.tenantId}::text)`);\n",
        replace: "",
      },
    ],
    suites: ["tests/events.test.ts"],
    filter: "signed-out",
  },
  {
    name: "api-key-hash",
    description: "the member path compares the key's hash: a key id with the wrong secret is no caller",
    edits: [
      { file: "db/sql/functions/enter_member.sql", find: "       AND k.secret_hash = p_key_hash\n", replace: "" },
    ],
    suites: ["tests/api-keys.test.ts"],
  },
  {
    name: "api-key-budget-hash",
    description: "a key's budget (and its lookup) is given only for the right secret",
    edits: [
      {
        file: "db/sql/functions/api_key_take.sql",
        find: "   WHERE k.tenant_id = p_tenant AND k.id = p_key AND k.secret_hash = p_key_hash\n",
        replace: "   WHERE k.tenant_id = p_tenant AND k.id = p_key\n",
      },
    ],
    suites: ["tests/api-keys.test.ts"],
  },
  {
    name: "api-key-revocation",
    description: "a revoked key fails on its next request, even on a server that holds a slice of its budget",
    edits: [
      {
        file: "db/sql/functions/enter_member.sql",
        find: "       AND k.revoked_at IS NULL AND (k.expires_at IS NULL",
        replace: "       AND (k.expires_at IS NULL",
      },
    ],
    suites: ["tests/api-keys.test.ts"],
  },
  {
    name: "api-key-read-only",
    description: "a read-only key is refused every write in app.enter_member",
    edits: [
      {
        file: "db/sql/functions/enter_member.sql",
        find: "    IF v_role IS NOT NULL AND p_write AND v_read_only THEN",
        replace: "    IF false THEN",
      },
    ],
    suites: ["tests/api-keys.test.ts"],
  },
  {
    name: "api-key-needs-a-person",
    description:
      "no API key calls a procedure that does not allow keys: managing keys, members, the workspace, accounts",
    edits: [{ file: "server/trpc.ts", find: "  if (!meta?.apiKeys) {", replace: "  if (false) {" }],
    suites: ["tests/api-keys.test.ts"],
  },
  {
    name: "api-key-rate-limit",
    description: "a key gets at most API_KEY_REQUESTS_PER_MINUTE requests a minute across servers",
    edits: [
      {
        file: "db/sql/functions/api_key_take.sql",
        find: "  p_granted := least(p_want, greatest(p_limit - v_used, 0));",
        replace: "  p_granted := p_want;",
      },
    ],
    suites: ["tests/api-keys.test.ts"],
    filter: "budget",
    engines: ["pglite", "postgres"],
  },
  {
    name: "api-key-lookup-throttle",
    description: "failed key lookups count against the address and stop it past the limit",
    edits: [{ file: "server/auth/api-keys.ts", find: "    if (wait > 0) {", replace: "    if (false) {" }],
    suites: ["tests/api-keys.test.ts"],
    filter: "failed lookups",
  },
  {
    name: "api-key-audit-actor",
    description: "the audit row of a key's change names the key as its actor type",
    edits: [
      {
        file: "db/sql/functions/record_audit.sql",
        find: "  v_actor_type text := coalesce(nullif(pg_catalog.current_setting('app.actor_type', true), ''), 'user');",
        replace: "  v_actor_type text := 'user';",
      },
    ],
    suites: ["tests/api-keys.test.ts"],
  },
  {
    name: "api-key-revoke-wakes-streams",
    description: "revoking a key wakes the tenant's live streams, so its stream ends at once, not at its poll",
    edits: [
      {
        file: "server/routers/api-keys.ts",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the text of server/routers/api-keys.ts
        find: "    await ctx.db.execute(sql`select pg_notify(${eventsChannel}, ${ctx.member.tenantId}::text)`);\n",
        replace: "",
      },
    ],
    suites: ["tests/api-keys.test.ts"],
    filter: "live events",
  },
  {
    name: "totp-step-once",
    description: "a TOTP code's time step is accepted once, and never one before the last accepted",
    edits: [
      {
        file: mfa,
        find: "        or(isNull(totpFactors.lastStep), lt(totpFactors.lastStep, matched)),\n",
        replace: "",
      },
    ],
    suites: [mfaTests],
    filter: "and each step once",
  },
  {
    name: "mfa-challenge-single-use",
    description: "a login's second-factor challenge signs in once",
    edits: [
      {
        file: mfa,
        find: "      .where(unspent(mfaChallenges, tenantId, tokenHash, now));",
        replace: "      .where(and(eq(mfaChallenges.tenantId, tenantId), eq(mfaChallenges.tokenHash, tokenHash)));",
      },
      {
        file: mfa,
        find: "      if ((await spendOneTimeToken(tx, mfaChallenges, tenantId, tokenHash, now)) !== who.userId) throw refused();",
        replace: "      await spendOneTimeToken(tx, mfaChallenges, tenantId, tokenHash, now);",
      },
    ],
    suites: [mfaTests],
    filter: "spends a challenge once",
  },
  {
    name: "mfa-challenge-binding",
    description: "a challenge is its own token's: a made-up one of the tenant does not stand for another pending",
    edits: [
      {
        file: mfa,
        find: "      .where(unspent(mfaChallenges, tenantId, tokenHash, now));",
        replace: "      .where(and(eq(mfaChallenges.tenantId, tenantId), isNull(mfaChallenges.usedAt)));",
      },
      {
        file: mfa,
        find: "      if ((await spendOneTimeToken(tx, mfaChallenges, tenantId, tokenHash, now)) !== who.userId) throw refused();",
        replace: "",
      },
    ],
    suites: [mfaTests],
    filter: "spends a challenge once",
  },
  {
    name: "recovery-code-once",
    description: "a recovery code signs in once",
    edits: [
      {
        file: mfa,
        find: "        isNull(recoveryCodes.usedAt),\n      ),\n    )\n    .returning",
        replace: "      ),\n    )\n    .returning",
      },
    ],
    suites: [mfaTests],
    filter: "takes each recovery code once",
  },
  {
    name: "totp-secret-encrypted",
    description: "a TOTP key is stored encrypted: no plaintext of it in the database",
    edits: [
      {
        file: mfa,
        find: "  const secretEncrypted = await ctx.encryption.encrypt(key, keyContext(who));",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the replacement's source text
        replace: "  const secretEncrypted = `v1.${encodeBase32UpperCaseNoPadding(key)}`;",
      },
    ],
    suites: [mfaTests],
    filter: "stores the key encrypted",
  },
  {
    name: "mfa-throttle",
    description: "wrong second-factor codes are counted per challenge and per account before a code is checked",
    edits: [
      {
        file: mfa,
        find: "    return { userId: challenge.userId, throttle, wait: await takeAttempt(tx, throttle) };",
        replace: "    return { userId: challenge.userId, throttle, wait: 0 };",
      },
    ],
    suites: [mfaTests],
    filter: "throttles wrong codes per challenge",
  },
  {
    name: "mfa-policy-refresh",
    description: "a session from before a workspace required a second factor is not refreshed without one",
    edits: [{ file: mfa, find: "  if (origin.secondFactorAt) return true;", replace: "  return true;" }],
    suites: [mfaTests],
    filter: "before the policy",
  },
  {
    name: "passkey-counter",
    description:
      "a passkey's counter is written only upward, where it is checked: racing uses of one value, one passes",
    edits: [
      {
        file: passkeysFile,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the text of server/auth/passkeys.ts
        find: "        or(lt(passkeys.counter, newCounter), and(eq(passkeys.counter, 0), sql`${newCounter}::bigint = 0`)),\n",
        replace: "",
      },
    ],
    suites: ["tests/auth/passkeys.test.ts"],
    engines: ["postgres"],
  },
  {
    name: "passkey-counter-audited",
    description: "a passkey whose counter went back is refused and audited",
    edits: [
      {
        file: passkeysFile,
        find: "    if (error instanceof Error && /counter value/i.test(error.message)) await counterWentBack(tx, ctx, who, stored.id);\n",
        replace: "",
      },
    ],
    suites: ["tests/auth/passkeys.test.ts"],
  },
  {
    name: "passkey-login-once",
    description: "a passwordless sign-in's challenge is answered once",
    edits: [
      {
        file: passkeysFile,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the text of server/auth/passkeys.ts
        find: "  if (!(await spendOnce(db, `passkey-login\\u0000${jti}`, ticketSeconds))) throw unauthorized();\n",
        replace: "",
      },
    ],
    suites: ["tests/auth/passkeys.test.ts"],
  },
  {
    name: "declared-length-limit",
    description: "a body whose declared length is over the limit is refused from its header (413)",
    edits: [
      {
        file: app,
        find: "return Number.parseInt(length, 10) > maxBodyBytes ? Promise.resolve(tooLarge(c)) : next();",
        replace: "return next();",
      },
    ],
    suites: ["tests/errors.test.ts"],
    filter: "bounded input",
  },
  {
    name: "rest-body-limit",
    description: "the REST face refuses a body over 1 MiB before any procedure runs, as /trpc does",
    edits: [
      {
        file: app,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the text of server/app.ts
        find: "  app.use(`${restBase}/*`, limitWrites);\n",
        replace: "",
      },
    ],
    suites: ["tests/rest.test.ts"],
  },
];
