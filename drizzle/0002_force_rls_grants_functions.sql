-- What drizzle-kit does not emit: FORCE RLS, ownership, grants, and the SQL functions.

-- Owners bypass RLS unless it is FORCED; the owner role is what the definer functions run as.
ALTER TABLE public.tenants OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE public.users OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE public.projects OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE public.tasks OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE public.refresh_tokens OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE public.invitations OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE public.audit_events OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE public.login_throttle OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE public.tenants FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE public.users FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE public.projects FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE public.tasks FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE public.refresh_tokens FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE public.invitations FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE public.audit_events FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE public.login_throttle FORCE ROW LEVEL SECURITY;--> statement-breakpoint

-- A task's assignee is a member of the same tenant; removing the member unassigns the task
-- (SET NULL of assignee_id only: nulling tenant_id too would break the row).
ALTER TABLE public.tasks ADD CONSTRAINT tasks_assignee_fkey
  FOREIGN KEY (tenant_id, assignee_id) REFERENCES public.users (tenant_id, id)
  ON DELETE SET NULL (assignee_id);--> statement-breakpoint

-- Minimal grants. Nothing on login_throttle (definer functions only); audit rows are
-- append-only; tenants are created by a definer function and never deleted by the runtime.
-- No TRUNCATE, REFERENCES or TRIGGER anywhere.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;--> statement-breakpoint
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM bulkhead_app;--> statement-breakpoint
GRANT USAGE ON SCHEMA public, app TO bulkhead_app, bulkhead_owner;--> statement-breakpoint
GRANT SELECT, UPDATE ON public.tenants TO bulkhead_app;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON public.users, public.projects, public.tasks,
  public.refresh_tokens, public.invitations TO bulkhead_app;--> statement-breakpoint
GRANT SELECT, INSERT ON public.audit_events TO bulkhead_app;--> statement-breakpoint

-- Per-request context, in one round trip, transaction-locally only. SET LOCAL (not set_config)
-- because Citus forwards SET LOCAL to its workers and never set_config. The role switch makes
-- RLS apply when the connection is a superuser (PGlite always is). It also sets the request's
-- statement_timeout, so one tenant's runaway query cannot hold a pooled connection for long,
-- and returns the caller's current role in the tenant (NULL when not a member), read under RLS,
-- so removal or demotion takes effect on the very next request.
CREATE OR REPLACE FUNCTION app.set_context(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer DEFAULT 5000)
  RETURNS text
  LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  v_role text;
BEGIN
  IF current_user <> 'bulkhead_app' THEN
    SET LOCAL ROLE bulkhead_app;
  END IF;
  -- The tenant with SET LOCAL: Citus forwards it to the workers, where the policies run. The
  -- user and the timeout matter only here (the coordinator), so set_config(..., true) does —
  -- it is just as transaction-local and saves parsing two statements per request.
  EXECUTE pg_catalog.format('SET LOCAL app.tenant_id = %L', coalesce(p_tenant::text, ''));
  PERFORM pg_catalog.set_config('app.user_id', coalesce(p_user::text, ''), true);
  PERFORM pg_catalog.set_config('statement_timeout', greatest(coalesce(p_statement_timeout_ms, 5000), 1)::text, true);
  IF p_user IS NOT NULL THEN
    SELECT u.role INTO v_role FROM public.users u WHERE u.tenant_id = p_tenant AND u.id = p_user;
  END IF;
  RETURN v_role;
END
$$;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.set_context(uuid, uuid, integer) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.set_context(uuid, uuid, integer) TO bulkhead_app;--> statement-breakpoint

-- Tenant-less paths are SECURITY DEFINER functions: owned by bulkhead_owner (itself subject to
-- FORCE RLS), search_path pinned, EXECUTE for bulkhead_app only.

-- Slug -> tenant id, for login (which runs it before any tenant context exists). Reveals only
-- whether a slug exists, which registration does anyway; inside a tenant's context it answers
-- for that tenant's own slug only, so a request can never use it to look up another tenant.
CREATE OR REPLACE FUNCTION app.tenant_id_for_slug(p_slug text) RETURNS uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT t.id FROM public.tenants t
     WHERE t.slug = p_slug
       AND (app.current_tenant_id() IS NULL OR t.id = app.current_tenant_id())
  $$;--> statement-breakpoint
ALTER FUNCTION app.tenant_id_for_slug(text) OWNER TO bulkhead_owner;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.tenant_id_for_slug(text) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.tenant_id_for_slug(text) TO bulkhead_app;--> statement-breakpoint

-- Creates a tenant and its owner atomically. The rows are written under the new tenant's own
-- context, so the policies' WITH CHECK still applies to the owner role. A taken slug raises
-- unique_violation (23505), which the API reports as CONFLICT.
CREATE OR REPLACE FUNCTION app.register_tenant(p_slug text, p_name text, p_email text, p_owner_name text, p_password_hash text)
  RETURNS TABLE (tenant_id uuid, user_id uuid)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_tenant uuid := gen_random_uuid();
  v_user uuid := gen_random_uuid();
BEGIN
  EXECUTE format('SET LOCAL app.tenant_id = %L', v_tenant);
  INSERT INTO public.tenants (id, slug, name) VALUES (v_tenant, p_slug, p_name);
  INSERT INTO public.users (tenant_id, id, email, name, password_hash, role)
    VALUES (v_tenant, v_user, lower(p_email), p_owner_name, p_password_hash, 'owner');
  RETURN QUERY SELECT v_tenant, v_user;
END
$$;--> statement-breakpoint
ALTER FUNCTION app.register_tenant(text, text, text, text, text) OWNER TO bulkhead_owner;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.register_tenant(text, text, text, text, text) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.register_tenant(text, text, text, text, text) TO bulkhead_app;--> statement-breakpoint

-- Failed-login throttling shared by every server instance. Keys are opaque hashes made by the
-- app. Returns the seconds until another attempt is allowed for the most limited key (0: allowed).
CREATE OR REPLACE FUNCTION app.login_throttle_wait(p_keys text[], p_max integer, p_window_seconds integer)
  RETURNS integer
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(max(ceil(extract(epoch FROM (l.window_started_at + make_interval(secs => p_window_seconds) - now()))))::integer, 0)
  FROM public.login_throttle l
  WHERE l.key = ANY (p_keys)
    AND l.failures >= p_max
    AND l.window_started_at + make_interval(secs => p_window_seconds) > now()
$$;--> statement-breakpoint
ALTER FUNCTION app.login_throttle_wait(text[], integer, integer) OWNER TO bulkhead_owner;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.login_throttle_wait(text[], integer, integer) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.login_throttle_wait(text[], integer, integer) TO bulkhead_app;--> statement-breakpoint

CREATE OR REPLACE FUNCTION app.login_throttle_fail(p_keys text[], p_window_seconds integer)
  RETURNS void
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  INSERT INTO public.login_throttle AS l (key, failures, window_started_at)
  SELECT k, 1, now() FROM unnest(p_keys) AS k
  ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN l.window_started_at + make_interval(secs => p_window_seconds) > now()
                    THEN l.failures + 1 ELSE 1 END,
    window_started_at = CASE WHEN l.window_started_at + make_interval(secs => p_window_seconds) > now()
                             THEN l.window_started_at ELSE now() END
$$;--> statement-breakpoint
ALTER FUNCTION app.login_throttle_fail(text[], integer) OWNER TO bulkhead_owner;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.login_throttle_fail(text[], integer) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.login_throttle_fail(text[], integer) TO bulkhead_app;--> statement-breakpoint

CREATE OR REPLACE FUNCTION app.login_throttle_reset(p_key text)
  RETURNS void
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ DELETE FROM public.login_throttle WHERE key = p_key $$;--> statement-breakpoint
ALTER FUNCTION app.login_throttle_reset(text) OWNER TO bulkhead_owner;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.login_throttle_reset(text) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.login_throttle_reset(text) TO bulkhead_app;--> statement-breakpoint

-- Citus forwards SET LOCAL to workers only with this setting; harmless on plain PostgreSQL.
-- Applies to sessions that log in as bulkhead_app.
DO $$
BEGIN
  ALTER ROLE bulkhead_app SET citus.propagate_set_commands = 'local';
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'skipping citus.propagate_set_commands: %', SQLERRM;
END
$$;
--> statement-breakpoint
-- The server checks at start that the database is migrated; let the runtime role read the log.
GRANT USAGE ON SCHEMA drizzle TO bulkhead_app;--> statement-breakpoint
GRANT SELECT ON drizzle.__drizzle_migrations TO bulkhead_app;
