-- Access tokens name their session (claim `sid`: the refresh-token family they were issued
-- with), and the context reads the caller's role only while that session is live. Logging out,
-- logging out everywhere, or a replayed refresh token (which revokes its family) then ends the
-- session's access tokens on their very next request, not when they expire.
--
-- The old three-argument form is dropped, not overloaded, so no caller can skip the session by
-- omission. p_session is NULL only for the server's own transactions that start or renew a
-- session (registration, login, refresh, accepting an invitation): there membership alone
-- decides, as before. Everything else is as in 0002: SET LOCAL for the tenant (Citus forwards
-- it), set_config(..., true) for the rest, all transaction-local.
DROP FUNCTION app.set_context(uuid, uuid, integer);--> statement-breakpoint
CREATE FUNCTION app.set_context(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer, p_session uuid)
  RETURNS text
  LANGUAGE plpgsql VOLATILE
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
REVOKE ALL ON FUNCTION app.set_context(uuid, uuid, integer, uuid) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.set_context(uuid, uuid, integer, uuid) TO bulkhead_app;
