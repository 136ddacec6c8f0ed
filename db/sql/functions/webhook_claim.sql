-- Spans shards by design (it runs on the jobs' pool only), as app.outbox_claim does.
-- Claims up to p_limit due webhook deliveries of every tenant for p_lease_seconds, as the owner
-- role (whose policies let it read and update deliveries and read endpoints): each taken by an
-- UPDATE that re-checks it, so dispatchers on several servers never take one twice
-- (docs/decisions/012-outbox-claims-with-a-lease.md). Returns each with its endpoint's URL and
-- secrets (the previous one while a rotation's overlap lasts). A delivery whose endpoint has
-- been disabled meanwhile is settled dead instead of returned.
CREATE OR REPLACE FUNCTION app.webhook_claim(p_limit integer, p_lease_seconds integer)
  RETURNS TABLE (tenant_id uuid, id uuid, webhook_id uuid, url text, secret text, previous_secret text,
                 payload jsonb, attempts integer, claim_id uuid)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET citus.multi_task_query_log_level = 'off'
AS $$
DECLARE
  v_claim uuid := gen_random_uuid();
  v_now timestamptz := now();
  v_until timestamptz;
  v_row record;
  v_hook record;
BEGIN
  IF p_limit IS NULL OR p_limit < 1 OR p_lease_seconds IS NULL OR p_lease_seconds < 1 THEN
    RAISE EXCEPTION 'webhook_claim: limit and lease must be positive' USING ERRCODE = '22023';
  END IF;
  v_until := v_now + make_interval(secs => p_lease_seconds);
  FOR v_row IN
    UPDATE public.webhook_deliveries d
       SET claim_id = v_claim, claimed_until = v_until, attempts = d.attempts + 1
     WHERE (d.tenant_id, d.id) IN (
       SELECT c.tenant_id, c.id FROM public.webhook_deliveries c
        WHERE c.status = 'pending' AND c.next_attempt_at <= v_now
          AND (c.claimed_until IS NULL OR c.claimed_until < v_now)
        ORDER BY c.next_attempt_at
        LIMIT p_limit)
       AND d.status = 'pending' AND (d.claimed_until IS NULL OR d.claimed_until < v_now)
    RETURNING d.tenant_id, d.id, d.webhook_id, d.payload, d.attempts, d.claim_id
  LOOP
    SELECT w.url, w.secret, w.enabled,
           CASE WHEN w.previous_secret_until > v_now THEN w.previous_secret END AS previous_secret
      INTO v_hook
      FROM public.webhooks w WHERE w.tenant_id = v_row.tenant_id AND w.id = v_row.webhook_id;
    IF NOT FOUND OR NOT v_hook.enabled THEN
      UPDATE public.webhook_deliveries d
         SET status = 'dead', last_error = 'the endpoint is disabled', claim_id = NULL, claimed_until = NULL,
             settled_at = v_now
       WHERE d.tenant_id = v_row.tenant_id AND d.id = v_row.id;
      CONTINUE;
    END IF;
    tenant_id := v_row.tenant_id;
    id := v_row.id;
    webhook_id := v_row.webhook_id;
    url := v_hook.url;
    secret := v_hook.secret;
    previous_secret := v_hook.previous_secret;
    payload := v_row.payload;
    attempts := v_row.attempts;
    claim_id := v_row.claim_id;
    RETURN NEXT;
  END LOOP;
END
$$;
ALTER FUNCTION app.webhook_claim(integer, integer) OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.webhook_claim(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.webhook_claim(integer, integer) TO bulkhead_app;
