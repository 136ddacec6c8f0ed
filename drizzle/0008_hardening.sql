-- Hardening after the outside review (issue 15): an atomic throttle, a member's write holds
-- their membership, one permissive policy per (table, role, command), policy names that fit in
-- 63 bytes, and a pinned search_path on every function.

-- Policies. The old names of five were longer than 63 bytes and stored truncated; DROP POLICY
-- truncates the name it is given the same way. The tenant policy of refresh_tokens,
-- invitations and tenants now applies to the runtime role only, because the owner role has
-- policies of its own there (pruning, slug lookup, registration).
DROP POLICY "tenants are visible and writable only to themselves" ON "tenants";--> statement-breakpoint
DROP POLICY "users are visible and writable only within their own tenant" ON "users";--> statement-breakpoint
DROP POLICY "projects are visible and writable only within their own tenant" ON "projects";--> statement-breakpoint
DROP POLICY "tasks are visible and writable only within their own tenant" ON "tasks";--> statement-breakpoint
DROP POLICY "refresh_tokens are visible and writable only within their own tenant" ON "refresh_tokens";--> statement-breakpoint
DROP POLICY "invitations are visible and writable only within their own tenant" ON "invitations";--> statement-breakpoint
DROP POLICY "audit_events are visible and writable only within their own tenant" ON "audit_events";--> statement-breakpoint
DROP POLICY "login throttle rows are reachable only through its definer functions" ON "login_throttle";--> statement-breakpoint
CREATE POLICY "tenants are seen and written only by themselves" ON "tenants" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("tenants"."id" = app.current_tenant_id()) WITH CHECK ("tenants"."id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "the owner role creates a tenant in its own context" ON "tenants" AS PERMISSIVE FOR INSERT TO "bulkhead_owner" WITH CHECK ("tenants"."id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "users are seen and written only within their tenant" ON "users" AS PERMISSIVE FOR ALL TO public USING ("users"."tenant_id" = app.current_tenant_id()) WITH CHECK ("users"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "projects are seen and written only within their tenant" ON "projects" AS PERMISSIVE FOR ALL TO public USING ("projects"."tenant_id" = app.current_tenant_id()) WITH CHECK ("projects"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "tasks are seen and written only within their tenant" ON "tasks" AS PERMISSIVE FOR ALL TO public USING ("tasks"."tenant_id" = app.current_tenant_id()) WITH CHECK ("tasks"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "refresh_tokens are seen and written only within their tenant" ON "refresh_tokens" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("refresh_tokens"."tenant_id" = app.current_tenant_id()) WITH CHECK ("refresh_tokens"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "invitations are seen and written only within their tenant" ON "invitations" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("invitations"."tenant_id" = app.current_tenant_id()) WITH CHECK ("invitations"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "audit_events are seen and written only within their tenant" ON "audit_events" AS PERMISSIVE FOR ALL TO public USING ("audit_events"."tenant_id" = app.current_tenant_id()) WITH CHECK ("audit_events"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "throttle rows are reachable only through definer functions" ON "login_throttle" AS PERMISSIVE FOR ALL TO public USING (current_user = 'bulkhead_owner') WITH CHECK (current_user = 'bulkhead_owner');--> statement-breakpoint

-- The context statement, now with p_lock_member: a read-write transaction holds the caller's
-- membership row FOR KEY SHARE until it ends. Removing or demoting a member locks that row FOR
-- UPDATE first (members.remove / members.updateRole), so it waits for the member's writes in
-- flight, and a write that starts after it reads the member as removed or demoted: the two never
-- interleave. Reads take no lock (a row lock writes to the row). Everything else is as in 0003.
DROP FUNCTION app.set_context(uuid, uuid, integer, uuid);--> statement-breakpoint
CREATE FUNCTION app.set_context(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer, p_session uuid,
                                p_lock_member boolean)
  RETURNS text
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_role text;
BEGIN
  IF current_user <> 'bulkhead_app' THEN
    SET LOCAL ROLE bulkhead_app;
  END IF;
  EXECUTE pg_catalog.format('SET LOCAL app.tenant_id = %L', coalesce(p_tenant::text, ''));
  PERFORM pg_catalog.set_config('app.user_id', coalesce(p_user::text, ''), true);
  PERFORM pg_catalog.set_config('statement_timeout', greatest(coalesce(p_statement_timeout_ms, 5000), 1)::text, true);
  IF p_user IS NOT NULL THEN
    -- Read under RLS, as bulkhead_app in the tenant just set: only the tenant's own rows count.
    -- Lock first, then read: a removal committed meanwhile leaves nothing to lock or read.
    IF p_lock_member THEN
      PERFORM 1 FROM public.users u WHERE u.tenant_id = p_tenant AND u.id = p_user FOR KEY SHARE;
    END IF;
    SELECT u.role INTO v_role FROM public.users u
     WHERE u.tenant_id = p_tenant AND u.id = p_user
       AND (p_session IS NULL OR EXISTS (
             SELECT 1 FROM public.refresh_tokens r
              WHERE r.tenant_id = p_tenant AND r.family_id = p_session AND r.user_id = p_user
                AND r.revoked_at IS NULL));
  END IF;
  RETURN v_role;
END
$$;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.set_context(uuid, uuid, integer, uuid, boolean) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.set_context(uuid, uuid, integer, uuid, boolean) TO bulkhead_app;--> statement-breakpoint

-- As in 0006, calling the new set_context without the lock (a read).
CREATE OR REPLACE FUNCTION app.enter_read(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer, p_session uuid,
                                          p_tenant_slug text)
  RETURNS text
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_role text;
BEGIN
  -- A read always acts for a signed-in member of a session: nothing here is optional.
  IF p_tenant IS NULL OR p_user IS NULL OR p_session IS NULL THEN
    RAISE EXCEPTION 'not a member' USING ERRCODE = 'BH401';
  END IF;
  v_role := app.set_context(p_tenant, p_user, p_statement_timeout_ms, p_session, false);
  IF v_role IS NULL THEN
    RAISE EXCEPTION 'not a member' USING ERRCODE = 'BH401';
  END IF;
  -- Read under RLS in the tenant just set: another tenant's slug is simply not there.
  IF p_tenant_slug IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM public.tenants t WHERE t.id = p_tenant AND t.slug = p_tenant_slug) THEN
    RAISE EXCEPTION 'tenant mismatch' USING ERRCODE = 'BH403';
  END IF;
  RETURN v_role;
END
$$;--> statement-breakpoint

-- Every function pins its search_path (supabase/splinter's function_search_path_mutable), the
-- invoker ones too: each names its objects with their schema already, so this changes nothing
-- but what a caller's search_path could shadow.
ALTER FUNCTION app.current_tenant_id() SET search_path = pg_catalog, pg_temp;--> statement-breakpoint
ALTER FUNCTION app.current_user_id() SET search_path = pg_catalog, pg_temp;--> statement-breakpoint
ALTER FUNCTION app.read_projects_page(uuid, uuid, integer, uuid, text, integer, timestamptz, uuid) SET search_path = pg_catalog, pg_temp;--> statement-breakpoint
ALTER FUNCTION app.read_project(uuid, uuid, integer, uuid, text, uuid) SET search_path = pg_catalog, pg_temp;--> statement-breakpoint
ALTER FUNCTION app.read_tasks_page(uuid, uuid, integer, uuid, text, uuid, text, integer, timestamptz, uuid) SET search_path = pg_catalog, pg_temp;--> statement-breakpoint
ALTER FUNCTION app.read_task(uuid, uuid, integer, uuid, text, uuid) SET search_path = pg_catalog, pg_temp;--> statement-breakpoint

-- The throttle reserves an attempt before the password is hashed, atomically: the rows of all
-- its keys are locked (in key order, so concurrent callers cannot deadlock), and the attempt is
-- counted under every key, or — when any key has used its limit in the current window — under
-- none, returning the seconds to wait. Refused attempts therefore cost an account nothing: an
-- attacker locked out of their (account, address) pair cannot use up the account's looser limit.
DROP FUNCTION app.login_throttle_wait(text[], integer, integer);--> statement-breakpoint
DROP FUNCTION app.login_throttle_fail(text[], integer);--> statement-breakpoint
DROP FUNCTION app.login_throttle_reset(text);--> statement-breakpoint
CREATE FUNCTION app.throttle_take(p_keys text[], p_limits integer[], p_window_seconds integer)
  RETURNS integer
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_window interval;
  v_wait integer;
BEGIN
  IF p_keys IS NULL OR p_limits IS NULL OR cardinality(p_keys) <> cardinality(p_limits)
     OR p_window_seconds IS NULL OR p_window_seconds < 1 THEN
    RAISE EXCEPTION 'throttle_take: one limit per key and a positive window' USING ERRCODE = '22023';
  END IF;
  v_window := make_interval(secs => p_window_seconds);
  INSERT INTO public.login_throttle AS l (key, failures, window_started_at)
    SELECT k, 0, now() FROM unnest(p_keys) AS k ORDER BY k
    ON CONFLICT (key) DO NOTHING;
  PERFORM 1 FROM public.login_throttle l WHERE l.key = ANY (p_keys) ORDER BY l.key FOR UPDATE;
  SELECT max(greatest(ceil(extract(epoch FROM (l.window_started_at + v_window - now()))), 1))::integer
    INTO v_wait
    FROM public.login_throttle l
    JOIN unnest(p_keys, p_limits) AS k(key, max_attempts) ON k.key = l.key
   WHERE l.window_started_at + v_window > now() AND l.failures >= k.max_attempts;
  IF v_wait IS NOT NULL THEN
    RETURN v_wait;
  END IF;
  UPDATE public.login_throttle l SET
    failures = CASE WHEN l.window_started_at + v_window > now() THEN l.failures + 1 ELSE 1 END,
    window_started_at = CASE WHEN l.window_started_at + v_window > now() THEN l.window_started_at ELSE now() END
   WHERE l.key = ANY (p_keys);
  RETURN 0;
END
$$;--> statement-breakpoint
ALTER FUNCTION app.throttle_take(text[], integer[], integer) OWNER TO bulkhead_owner;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.throttle_take(text[], integer[], integer) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.throttle_take(text[], integer[], integer) TO bulkhead_app;--> statement-breakpoint

-- A success gives its reserved attempt back under p_refund and clears p_clear's counters.
CREATE FUNCTION app.throttle_refund(p_refund text[], p_clear text[])
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM 1 FROM public.login_throttle l
   WHERE l.key = ANY (p_refund) OR l.key = ANY (p_clear) ORDER BY l.key FOR UPDATE;
  UPDATE public.login_throttle l SET failures = greatest(l.failures - 1, 0) WHERE l.key = ANY (p_refund);
  DELETE FROM public.login_throttle l WHERE l.key = ANY (p_clear);
END
$$;--> statement-breakpoint
ALTER FUNCTION app.throttle_refund(text[], text[]) OWNER TO bulkhead_owner;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.throttle_refund(text[], text[]) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.throttle_refund(text[], text[]) TO bulkhead_app;
