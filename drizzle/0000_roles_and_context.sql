-- Roles are cluster-wide: create them only when missing, so a second database on the same
-- cluster (or a re-run) migrates cleanly.
--   bulkhead_owner  owns every table and the SECURITY DEFINER functions; used by migrations only.
--   bulkhead_app    the runtime role: not superuser, no BYPASSRLS, owns nothing, minimal grants.
--                   LOGIN so production can connect as it directly (set a password out of band).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'bulkhead_owner') THEN
    CREATE ROLE bulkhead_owner NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'bulkhead_app') THEN
    CREATE ROLE bulkhead_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
  END IF;
END
$$;
--> statement-breakpoint
CREATE SCHEMA IF NOT EXISTS app;
--> statement-breakpoint
-- The one place policies read the tenant from. nullif: once a transaction-local setting has
-- ended, the same pooled connection reads '' (not NULL), and ''::uuid would raise; NULL instead
-- matches no row and fails every WITH CHECK. STABLE (not VOLATILE) so the planner can inline it.
CREATE OR REPLACE FUNCTION app.current_tenant_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(pg_catalog.current_setting('app.tenant_id', true), '')::uuid $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION app.current_user_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(pg_catalog.current_setting('app.user_id', true), '')::uuid $$;
