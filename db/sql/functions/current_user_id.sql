-- The user the current transaction acts for, or NULL (see current_tenant_id, also why PL/pgSQL).
CREATE OR REPLACE FUNCTION app.current_user_id()
  RETURNS uuid
  LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$ BEGIN RETURN nullif(pg_catalog.current_setting('app.user_id', true), '')::uuid; END $$;
