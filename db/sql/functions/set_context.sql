-- Enters a context, transaction-locally: the runtime role, the tenant, the user and the
-- statement timeout, and returns the user's current role in the tenant (NULL: not a member, or
-- the session `p_session` names is over). The tenant and the user are set with SET LOCAL, which
-- Citus forwards to its workers (set_config is not; tests/functions.test.ts refuses it for app.*).
-- With p_lock_member, the membership row is held FOR KEY SHARE until the transaction ends, so a
-- removal or demotion waits for this transaction's writes (docs/decisions/003-write-transactions-hold-the-membership.md).
-- Login and registration call it directly; members enter through app.enter_member.
CREATE OR REPLACE FUNCTION app.set_context(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer, p_session uuid,
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
  EXECUTE pg_catalog.format('SET LOCAL app.tenant_id = %L; SET LOCAL app.user_id = %L',
                            coalesce(p_tenant::text, ''), coalesce(p_user::text, ''));
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
$$;
REVOKE ALL ON FUNCTION app.set_context(uuid, uuid, integer, uuid, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.set_context(uuid, uuid, integer, uuid, boolean) TO bulkhead_app;
