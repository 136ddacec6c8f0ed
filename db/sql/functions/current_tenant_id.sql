-- The tenant the current transaction acts for, or NULL outside a tenant context. Every policy
-- reads the tenant through this one function. `nullif` because a transaction-local setting
-- reads '' (not NULL) on the same connection after its transaction ends: no context then reads
-- as NULL, so queries see no rows and writes fail, instead of a cast error.
--
-- A SQL-standard body (BEGIN ATOMIC): PostgreSQL resolves its names when the function is
-- created and keeps them, so no caller's search_path can change what it calls — the point of
-- pinning search_path — and, with no SET clause, the planner inlines it into every policy
-- (docs/decisions/004-every-function-pins-search-path.md). It is written here exactly as
-- PostgreSQL prints it back (pg_get_function_sqlbody), which the posture check compares.
CREATE OR REPLACE FUNCTION app.current_tenant_id()
  RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
 SELECT (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid AS current_tenant_id;
END;
