-- The audit retention the transaction prunes with (app.prune_expired sets it), or NULL. The
-- owner role's audit policies read it through this function, as every policy reads the tenant
-- through app.current_tenant_id(): Citus refuses a policy with a (select ...) subquery, and an
-- index condition evaluates it once per scan (BEGIN ATOMIC: see current_tenant_id.sql).
CREATE OR REPLACE FUNCTION app.audit_retention_days()
  RETURNS integer
  LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
 SELECT (NULLIF(current_setting('app.audit_retention_days'::text, true), ''::text))::integer AS audit_retention_days;
END;
