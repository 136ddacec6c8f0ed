-- The tenant the current transaction acts for, or NULL outside a tenant context. Every policy
-- reads the tenant through this one function. `nullif` because a transaction-local setting
-- reads '' (not NULL) on the same connection after its transaction ends: no context then reads
-- as NULL, so queries see no rows and writes fail, instead of a cast error.
CREATE OR REPLACE FUNCTION app.current_tenant_id()
  RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$ SELECT nullif(pg_catalog.current_setting('app.tenant_id', true), '')::uuid $$;
