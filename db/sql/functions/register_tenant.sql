-- Creates a tenant and its owner in the new tenant's own context, as the caller (the runtime
-- role), under the policies every member's write meets: the tenant row's INSERT policy admits
-- it only in its own context. One role writes and then reads these rows in the transaction, so
-- Citus keeps them on one connection per worker (a definer write followed by the runtime role's
-- reads fails there: docs/decisions/023-registration-as-one-role.md). A slug still reserved by an
-- erased workspace's tombstone is taken (as a unique violation), and so is a live one: the whole
-- transaction rolls back, leaving nothing behind.
CREATE OR REPLACE FUNCTION app.register_tenant(p_slug text, p_name text, p_email text, p_owner_name text,
                                               p_password_hash text)
  RETURNS TABLE(tenant_id uuid, user_id uuid)
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_tenant uuid := gen_random_uuid();
  v_user uuid := gen_random_uuid();
BEGIN
  -- An erased workspace's slug stays reserved for a while (app.erase_tenant_batch): taken.
  IF app.slug_reserved(p_slug) THEN
    RAISE EXCEPTION 'slug reserved' USING ERRCODE = '23505', CONSTRAINT = 'tenants_slug_key';
  END IF;
  EXECUTE pg_catalog.format('SET LOCAL app.tenant_id = %L; SET LOCAL app.user_id = %L', v_tenant, v_user);
  INSERT INTO public.tenants (id, slug, name) VALUES (v_tenant, p_slug, p_name);
  INSERT INTO public.users (tenant_id, id, email, name, password_hash, role)
    VALUES (v_tenant, v_user, lower(p_email), p_owner_name, p_password_hash, 'owner');
  RETURN QUERY SELECT v_tenant, v_user;
END
$$;
REVOKE ALL ON FUNCTION app.register_tenant(text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.register_tenant(text, text, text, text, text) TO bulkhead_app;
