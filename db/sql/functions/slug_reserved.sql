-- Whether an erased workspace's tombstone still reserves a slug (for app.register_tenant).
-- SECURITY DEFINER (as bulkhead_owner) because the runtime role cannot read tombstones; it only
-- reads, so registration still writes as one role.
CREATE OR REPLACE FUNCTION app.slug_reserved(p_slug text)
  RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM public.tenant_tombstones s WHERE s.slug = p_slug AND s.slug_reserved_until > now())
  $$;
ALTER FUNCTION app.slug_reserved(text) OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.slug_reserved(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.slug_reserved(text) TO bulkhead_app;
