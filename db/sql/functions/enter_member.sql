-- The first statement of every member's transaction and of every one-statement read: enters
-- the tenant context (app.set_context) and refuses, by raising, a caller who is not a member
-- with a live session (BH401) or a request that names another tenant (BH403). Nothing a
-- procedure does can run before it answers, so no procedure code runs for a non-member.
-- A read (p_write false) turns the rest of the transaction read-only; a write holds the
-- membership row (see set_context). A write with p_verified_only, in a tenant that requires
-- verified email, is refused to a member who has not verified theirs (BH412): they may read,
-- and manage their own account (the server passes false there), until they verify. Such a
-- change is refused to everyone while the workspace is scheduled for deletion (BH423): it may
-- be read and exported, and its owner may cancel the deletion (the server passes false).
--
-- A workspace API key enters here too, as a principal of its own beside the members
-- (docs/decisions/025-api-keys-beside-members.md): p_user and p_session are the key's id and
-- p_key_hash the SHA-256 of the secret the request carried. It counts only while that key of the
-- tenant has that hash and is neither revoked nor expired; its role is the key's, app.user_id its
-- id, app.actor_type 'api_key'. A read-only key is refused every write here (BH405), whatever
-- the procedure.
--
-- A workspace that requires a second factor (tenants.require_mfa) holds a person whose session
-- did not prove one: with no factor, they may run only the procedures that enroll one
-- (p_enrolling; BH428 for the rest); with a factor, they must sign in again with it (BH427).
-- Reads and writes alike: no procedure can forget the policy.
--
-- Error codes (class BH, mapped by the server, never shown as SQL):
--   BH401  the caller is not a member of the tenant, or the token's session is over, or the key
--          is unknown, revoked, expired or its secret wrong
--   BH405  a write with a read-only API key
--   BH403  the request names a tenant (X-Tenant, subdomain) other than the token's
--   BH427  the workspace requires a second factor, the member has one, the session did not prove it
--   BH428  the workspace requires a second factor and the member has none (outside enrollment)
--   BH412  the tenant requires a verified email for changes, and the member's is not
--   BH423  the workspace is scheduled for deletion
CREATE OR REPLACE FUNCTION app.enter_member(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer, p_session uuid,
                                            p_tenant_slug text, p_write boolean, p_verified_only boolean,
                                            p_key_hash text, p_enrolling boolean)
  RETURNS text
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_role text;
  v_read_only boolean;
BEGIN
  -- A member always acts in a session: nothing here is optional.
  IF p_tenant IS NULL OR p_user IS NULL OR p_session IS NULL OR p_write IS NULL THEN
    RAISE EXCEPTION 'not a member' USING ERRCODE = 'BH401';
  END IF;
  IF p_key_hash IS NULL THEN
    v_role := app.set_context(p_tenant, p_user, p_statement_timeout_ms, p_session, p_write);
  ELSE
    -- A key is no user: the context is the tenant's alone, then the key's id as the actor.
    PERFORM app.set_context(p_tenant, NULL, p_statement_timeout_ms, NULL, false);
    EXECUTE pg_catalog.format('SET LOCAL app.user_id = %L; SET LOCAL app.actor_type = %L', p_user, 'api_key');
    -- A write holds the key's row, so a revocation waits for it (as a member's row, decision 003).
    IF p_write THEN
      PERFORM 1 FROM public.api_keys k WHERE k.tenant_id = p_tenant AND k.id = p_user FOR KEY SHARE;
    END IF;
    SELECT k.role, k.read_only INTO v_role, v_read_only FROM public.api_keys k
     WHERE k.tenant_id = p_tenant AND k.id = p_user AND p_session = p_user
       AND k.secret_hash = p_key_hash
       AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > pg_catalog.now());
    IF v_role IS NOT NULL AND p_write AND v_read_only THEN
      RAISE EXCEPTION 'read-only key' USING ERRCODE = 'BH405';
    END IF;
  END IF;
  IF v_role IS NULL THEN
    RAISE EXCEPTION 'not a member' USING ERRCODE = 'BH401';
  END IF;
  -- Read under RLS in the tenant just set: another tenant's slug is simply not there.
  IF p_tenant_slug IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM public.tenants t WHERE t.id = p_tenant AND t.slug = p_tenant_slug) THEN
    RAISE EXCEPTION 'tenant mismatch' USING ERRCODE = 'BH403';
  END IF;
  IF p_key_hash IS NULL
     AND EXISTS (SELECT 1 FROM public.tenants t WHERE t.id = p_tenant AND t.require_mfa)
     AND NOT EXISTS (SELECT 1 FROM public.refresh_tokens r
                      WHERE r.tenant_id = p_tenant AND r.family_id = p_session AND r.user_id = p_user
                        AND r.revoked_at IS NULL AND r.second_factor_at IS NOT NULL) THEN
    IF EXISTS (SELECT 1 FROM public.totp_factors f
                WHERE f.tenant_id = p_tenant AND f.user_id = p_user AND f.confirmed_at IS NOT NULL)
       OR EXISTS (SELECT 1 FROM public.passkeys k WHERE k.tenant_id = p_tenant AND k.user_id = p_user) THEN
      RAISE EXCEPTION 'second factor not proven in this session' USING ERRCODE = 'BH427';
    ELSIF NOT coalesce(p_enrolling, false) THEN
      RAISE EXCEPTION 'second factor required' USING ERRCODE = 'BH428';
    END IF;
  END IF;
  IF NOT p_write THEN
    PERFORM pg_catalog.set_config('transaction_read_only', 'on', true);
  ELSIF p_verified_only THEN
    IF EXISTS (SELECT 1 FROM public.tenants t WHERE t.id = p_tenant AND t.deletion_due_at IS NOT NULL) THEN
      RAISE EXCEPTION 'workspace scheduled for deletion' USING ERRCODE = 'BH423';
    END IF;
    IF EXISTS (
      SELECT 1 FROM public.tenants t JOIN public.users u ON u.tenant_id = t.id AND u.id = p_user
       WHERE t.id = p_tenant AND t.require_verified_email AND u.email_verified_at IS NULL) THEN
      RAISE EXCEPTION 'email not verified' USING ERRCODE = 'BH412';
    END IF;
  END IF;
  RETURN v_role;
END
$$;
REVOKE ALL ON FUNCTION app.enter_member(uuid, uuid, integer, uuid, text, boolean, boolean, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.enter_member(uuid, uuid, integer, uuid, text, boolean, boolean, text, boolean) TO bulkhead_app;
