-- A tenant's id from its slug, for login and token refresh before any tenant context exists.
-- SECURITY DEFINER (as bulkhead_owner) because the runtime role cannot see tenants it is not in;
-- inside a tenant's context it only ever answers for that tenant.
CREATE OR REPLACE FUNCTION app.tenant_id_for_slug(p_slug text)
  RETURNS uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id FROM public.tenants t
     WHERE t.slug = p_slug
       AND (app.current_tenant_id() IS NULL OR t.id = app.current_tenant_id())
  $$;
ALTER FUNCTION app.tenant_id_for_slug(text) OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.tenant_id_for_slug(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.tenant_id_for_slug(text) TO bulkhead_app;
