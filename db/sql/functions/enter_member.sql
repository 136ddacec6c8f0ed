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
-- Error codes (class BH, mapped by the server, never shown as SQL):
--   BH401  the caller is not a member of the tenant, or the token's session is over
--   BH403  the request names a tenant (X-Tenant, subdomain) other than the token's
--   BH412  the tenant requires a verified email for changes, and the member's is not
--   BH423  the workspace is scheduled for deletion
CREATE OR REPLACE FUNCTION app.enter_member(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer, p_session uuid,
                                            p_tenant_slug text, p_write boolean, p_verified_only boolean)
  RETURNS text
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_role text;
BEGIN
  -- A member always acts in a session: nothing here is optional.
  IF p_tenant IS NULL OR p_user IS NULL OR p_session IS NULL OR p_write IS NULL THEN
    RAISE EXCEPTION 'not a member' USING ERRCODE = 'BH401';
  END IF;
  v_role := app.set_context(p_tenant, p_user, p_statement_timeout_ms, p_session, p_write);
  IF v_role IS NULL THEN
    RAISE EXCEPTION 'not a member' USING ERRCODE = 'BH401';
  END IF;
  -- Read under RLS in the tenant just set: another tenant's slug is simply not there.
  IF p_tenant_slug IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM public.tenants t WHERE t.id = p_tenant AND t.slug = p_tenant_slug) THEN
    RAISE EXCEPTION 'tenant mismatch' USING ERRCODE = 'BH403';
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
REVOKE ALL ON FUNCTION app.enter_member(uuid, uuid, integer, uuid, text, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.enter_member(uuid, uuid, integer, uuid, text, boolean, boolean) TO bulkhead_app;
