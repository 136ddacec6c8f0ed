-- Spans shards by design (it runs on the jobs' pool only): it lifts the runtime role's fan-out
-- guard for itself, which requests keep (docs/scaling-out.md).
-- Deletes up to p_batch expired refresh tokens, invitations, password resets, stale throttle
-- rows, outbox messages settled more than a week ago, audit events older than
-- p_audit_retention_days (when given) and events older than p_event_retention_days, per call, across all tenants (as bulkhead_owner, whose pruning
-- policies admit exactly those rows), and frees the slugs of erased workspaces whose
-- reservation is over (the tombstone keeps only the id and the time).
-- Each batch is chosen by key, not by ctid (Citus cannot delete by ctid on a distributed table).
-- Returns true when a table had a full batch (call again), false when done, and NULL when
-- another caller holds the pruning lock and this one did nothing.
CREATE OR REPLACE FUNCTION app.prune_expired(p_batch integer, p_throttle_window_seconds integer, p_audit_retention_days integer, p_event_retention_days integer)
  RETURNS boolean
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET citus.multi_task_query_log_level = 'off'
AS $$
DECLARE
  v_deleted bigint;
  v_more boolean := false;
BEGIN
  IF p_batch IS NULL OR p_batch < 1 OR p_throttle_window_seconds IS NULL OR p_throttle_window_seconds < 1 THEN
    RAISE EXCEPTION 'prune_expired: batch and window must be positive' USING ERRCODE = '22023';
  END IF;
  IF NOT pg_try_advisory_xact_lock(724311902) THEN
    RETURN NULL; -- another caller is pruning: this one did nothing
  END IF;
  DELETE FROM public.refresh_tokens WHERE (tenant_id, id) IN (
    SELECT tenant_id, id FROM public.refresh_tokens WHERE expires_at < now() LIMIT p_batch);
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  v_more := v_more OR v_deleted >= p_batch;
  DELETE FROM public.invitations WHERE (tenant_id, id) IN (
    SELECT tenant_id, id FROM public.invitations WHERE expires_at < now() LIMIT p_batch);
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  v_more := v_more OR v_deleted >= p_batch;
  DELETE FROM public.password_resets WHERE (tenant_id, id) IN (
    SELECT tenant_id, id FROM public.password_resets WHERE expires_at < now() LIMIT p_batch);
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  v_more := v_more OR v_deleted >= p_batch;
  DELETE FROM public.mfa_challenges WHERE (tenant_id, id) IN (
    SELECT tenant_id, id FROM public.mfa_challenges WHERE expires_at < now() LIMIT p_batch);
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  v_more := v_more OR v_deleted >= p_batch;
  DELETE FROM public.outbox WHERE (tenant_id, id) IN (
    SELECT tenant_id, id FROM public.outbox
     WHERE status <> 'pending' AND settled_at < now() - interval '7 days' LIMIT p_batch);
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  v_more := v_more OR v_deleted >= p_batch;
  DELETE FROM public.login_throttle WHERE key IN (
    SELECT key FROM public.login_throttle
     WHERE window_started_at < now() - make_interval(secs => p_throttle_window_seconds) LIMIT p_batch);
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  v_more := v_more OR v_deleted >= p_batch;
  IF p_audit_retention_days IS NOT NULL THEN
    -- The owner role's retention policy on audit_events admits rows older than this setting.
    EXECUTE pg_catalog.format('SET LOCAL app.audit_retention_days = %L', greatest(p_audit_retention_days, 1));
    DELETE FROM public.audit_events WHERE (tenant_id, id) IN (
      SELECT tenant_id, id FROM public.audit_events
       WHERE created_at < now() - make_interval(days => greatest(p_audit_retention_days, 1)) LIMIT p_batch);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    v_more := v_more OR v_deleted >= p_batch;
  END IF;
  IF p_event_retention_days IS NOT NULL THEN
    -- The owner role's retention policy on events admits rows older than this setting.
    EXECUTE pg_catalog.format('SET LOCAL app.event_retention_days = %L', greatest(p_event_retention_days, 1));
    DELETE FROM public.events WHERE (tenant_id, id) IN (
      SELECT tenant_id, id FROM public.events
       WHERE created_at < now() - make_interval(days => greatest(p_event_retention_days, 1)) LIMIT p_batch);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    v_more := v_more OR v_deleted >= p_batch;
  END IF;
  UPDATE public.tenant_tombstones SET slug = NULL, slug_reserved_until = NULL
   WHERE slug IS NOT NULL AND slug_reserved_until <= now();
  RETURN v_more;
END
$$;
ALTER FUNCTION app.prune_expired(integer, integer, integer, integer) OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.prune_expired(integer, integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.prune_expired(integer, integer, integer, integer) TO bulkhead_app;
