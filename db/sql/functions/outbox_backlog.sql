-- Spans shards by design (it runs on the jobs' pool only): it lifts the runtime role's fan-out
-- guard for itself, which requests keep (docs/scaling-out.md).
-- The outbox's backlog across tenants, for /metrics: how many messages wait to be sent and how
-- old the oldest is. Counts only: no tenant, recipient or content. Reads the partial index of
-- pending rows, so a scrape stays cheap however many messages were sent.
CREATE OR REPLACE FUNCTION app.outbox_backlog()
  RETURNS TABLE (pending bigint, oldest_pending_seconds double precision)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET citus.multi_task_query_log_level = 'off'
AS $$
  SELECT count(*), coalesce(extract(epoch FROM now() - min(o.next_attempt_at)), 0)::double precision
    FROM public.outbox o
   WHERE o.status = 'pending'
$$;
ALTER FUNCTION app.outbox_backlog() OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.outbox_backlog() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.outbox_backlog() TO bulkhead_app;
