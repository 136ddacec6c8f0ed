-- The workspaces whose deletion is due, oldest first: ids only (for the prune job).
CREATE OR REPLACE FUNCTION app.tenants_due_for_erasure(p_limit integer)
  RETURNS SETOF uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  SELECT t.id FROM public.tenants t
   WHERE t.deletion_due_at <= now()
   ORDER BY t.deletion_due_at
   LIMIT p_limit
$$;
ALTER FUNCTION app.tenants_due_for_erasure(integer) OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.tenants_due_for_erasure(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.tenants_due_for_erasure(integer) TO bulkhead_app;
