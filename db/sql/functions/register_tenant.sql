-- Creates a tenant and its owner in the new tenant's own context: the only insert into
-- `tenants`, as bulkhead_owner, whose INSERT policy admits a tenant row only in its own context.
-- A slug still reserved by an erased workspace's tombstone is taken (as a unique violation).
CREATE OR REPLACE FUNCTION app.register_tenant(p_slug text, p_name text, p_email text, p_owner_name text,
                                               p_password_hash text)
  RETURNS TABLE(tenant_id uuid, user_id uuid)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_tenant uuid := gen_random_uuid();
  v_user uuid := gen_random_uuid();
BEGIN
  -- An erased workspace's slug stays reserved for a while (app.erase_tenant_batch): taken.
  IF EXISTS (SELECT 1 FROM public.tenant_tombstones s WHERE s.slug = p_slug AND s.slug_reserved_until > now()) THEN
    RAISE EXCEPTION 'slug reserved' USING ERRCODE = '23505', CONSTRAINT = 'tenants_slug_key';
  END IF;
  EXECUTE format('SET LOCAL app.tenant_id = %L', v_tenant);
  INSERT INTO public.tenants (id, slug, name) VALUES (v_tenant, p_slug, p_name);
  INSERT INTO public.users (tenant_id, id, email, name, password_hash, role)
    VALUES (v_tenant, v_user, lower(p_email), p_owner_name, p_password_hash, 'owner');
  RETURN QUERY SELECT v_tenant, v_user;
END
$$;
ALTER FUNCTION app.register_tenant(text, text, text, text, text) OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.register_tenant(text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.register_tenant(text, text, text, text, text) TO bulkhead_app;
