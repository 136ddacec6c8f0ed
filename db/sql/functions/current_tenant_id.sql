-- The tenant the current transaction acts for, or NULL outside a tenant context. Every policy
-- reads the tenant through this one function. `nullif` because a transaction-local setting
-- reads '' (not NULL) on the same connection after its transaction ends: no context then reads
-- as NULL, so queries see no rows and writes fail, instead of a cast error. PL/pgSQL, not SQL:
-- with search_path pinned a SQL function is no longer inlined and is planned anew in every
-- statement, while PL/pgSQL keeps its plan (docs/decisions/004-every-function-pins-search-path.md).
CREATE OR REPLACE FUNCTION app.current_tenant_id()
  RETURNS uuid
  LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$ BEGIN RETURN nullif(pg_catalog.current_setting('app.tenant_id', true), '')::uuid; END $$;
