-- Spans shards by design (it runs on the jobs' pool only): it lifts the runtime role's fan-out
-- guard for itself, which requests keep (docs/scaling-out.md).
-- Erases one batch of a workspace whose deletion is due (tenants.deletion_due_at has passed), as
-- the owner role, in the workspace's own context: up to p_batch rows of the first table that
-- still has any, children before parents, so no statement cascades far and no transaction holds
-- locks for long. Returns how many rows it deleted; 0 once the workspace is gone. The last call
-- deletes the tenant row (its invitations, outbox, limits, usage and event sequence go with it by cascade: few
-- rows) and leaves a tombstone: the id, the time, and the slug until p_slug_reserved_days have
-- passed. Each call is its own transaction: an erase stopped anywhere goes on at the next call.
-- Returns NULL when the tenant is not due (or not there), so nothing of a live one is touched.
CREATE OR REPLACE FUNCTION app.erase_tenant_batch(p_tenant uuid, p_batch integer, p_slug_reserved_days integer)
  RETURNS integer
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET citus.multi_task_query_log_level = 'off'
AS $$
DECLARE
  v_deleted integer;
BEGIN
  IF p_batch IS NULL OR p_batch < 1 OR p_slug_reserved_days IS NULL OR p_slug_reserved_days < 0 THEN
    RAISE EXCEPTION 'erase_tenant_batch: batch must be positive, reservation not negative' USING ERRCODE = '22023';
  END IF;
  PERFORM 1 FROM public.tenants t WHERE t.id = p_tenant AND t.deletion_due_at <= now() FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  -- app.count_usage need not count down rows of a workspace on its way out.
  EXECUTE pg_catalog.format('SET LOCAL app.tenant_id = %L; SET LOCAL app.erasing = %L', p_tenant, p_tenant);

  DELETE FROM public.comments WHERE tenant_id = p_tenant AND id = ANY (ARRAY(
    SELECT c.id FROM public.comments c WHERE c.tenant_id = p_tenant LIMIT p_batch));
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  IF v_deleted > 0 THEN RETURN v_deleted; END IF;
  DELETE FROM public.tasks WHERE tenant_id = p_tenant AND id = ANY (ARRAY(
    SELECT x.id FROM public.tasks x WHERE x.tenant_id = p_tenant LIMIT p_batch));
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  IF v_deleted > 0 THEN RETURN v_deleted; END IF;
  DELETE FROM public.projects WHERE tenant_id = p_tenant AND id = ANY (ARRAY(
    SELECT p.id FROM public.projects p WHERE p.tenant_id = p_tenant LIMIT p_batch));
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  IF v_deleted > 0 THEN RETURN v_deleted; END IF;
  DELETE FROM public.audit_events WHERE tenant_id = p_tenant AND id = ANY (ARRAY(
    SELECT e.id FROM public.audit_events e WHERE e.tenant_id = p_tenant LIMIT p_batch));
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  IF v_deleted > 0 THEN RETURN v_deleted; END IF;
  DELETE FROM public.events WHERE tenant_id = p_tenant AND id = ANY (ARRAY(
    SELECT e.id FROM public.events e WHERE e.tenant_id = p_tenant LIMIT p_batch));
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  IF v_deleted > 0 THEN RETURN v_deleted; END IF;
  -- A user's sessions, reset and verification tokens go with them (cascade: a handful each).
  DELETE FROM public.users WHERE tenant_id = p_tenant AND id = ANY (ARRAY(
    SELECT u.id FROM public.users u WHERE u.tenant_id = p_tenant LIMIT greatest(p_batch / 10, 1)));
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  IF v_deleted > 0 THEN RETURN v_deleted; END IF;

  INSERT INTO public.tenant_tombstones (id, deleted_at, slug, slug_reserved_until)
    SELECT t.id, now(), t.slug, now() + make_interval(days => p_slug_reserved_days)
      FROM public.tenants t WHERE t.id = p_tenant;
  DELETE FROM public.tenants WHERE id = p_tenant;
  RETURN 0;
END
$$;
ALTER FUNCTION app.erase_tenant_batch(uuid, integer, integer) OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.erase_tenant_batch(uuid, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.erase_tenant_batch(uuid, integer, integer) TO bulkhead_app;
