-- Spans shards by design (it runs on the jobs' pool only): it lifts the runtime role's fan-out
-- guard for itself, which requests keep (docs/scaling-out.md).
-- Claims up to p_limit due outbox messages of any tenant for one dispatcher: pending, due, and
-- not claimed by another whose claim is still running. The UPDATE re-checks each candidate's
-- claim when it takes the row, so two dispatchers that pick the same candidates at once claim
-- each message once: the later one waits for the earlier's commit, sees the claim and skips the
-- row. No FOR UPDATE (Citus refuses it in a query across shards) and no now() inside the
-- statement (taken once, into variables). The claim (claim_id, claimed_until) outlives this
-- transaction, so no transaction stays open while mail is sent, and a dispatcher that dies
-- mid-send leaves rows that are claimable again once p_lease_seconds have passed. It spans
-- every tenant by design: only the jobs' pool calls it (db/open.ts).
CREATE OR REPLACE FUNCTION app.outbox_claim(p_limit integer, p_lease_seconds integer)
  RETURNS TABLE (tenant_id uuid, id uuid, kind text, payload jsonb, attempts integer, claim_id uuid)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET citus.multi_task_query_log_level = 'off'
AS $$
DECLARE
  v_claim uuid := gen_random_uuid();
  v_now timestamptz := now();
  v_until timestamptz;
BEGIN
  IF p_limit IS NULL OR p_limit < 1 OR p_lease_seconds IS NULL OR p_lease_seconds < 1 THEN
    RAISE EXCEPTION 'outbox_claim: limit and lease must be positive' USING ERRCODE = '22023';
  END IF;
  v_until := v_now + make_interval(secs => p_lease_seconds);
  RETURN QUERY
  UPDATE public.outbox o
     SET claim_id = v_claim, claimed_until = v_until, attempts = o.attempts + 1
   WHERE (o.tenant_id, o.id) IN (
     SELECT c.tenant_id, c.id FROM public.outbox c
      WHERE c.status = 'pending' AND c.next_attempt_at <= v_now
        AND (c.claimed_until IS NULL OR c.claimed_until < v_now)
      ORDER BY c.next_attempt_at
      LIMIT p_limit)
     -- Re-checked on the row as it is when the UPDATE takes it: another claim committed
     -- meanwhile makes this false, and the row is skipped.
     AND o.status = 'pending' AND (o.claimed_until IS NULL OR o.claimed_until < v_now)
  RETURNING o.tenant_id, o.id, o.kind, o.payload, o.attempts, o.claim_id;
END
$$;
ALTER FUNCTION app.outbox_claim(integer, integer) OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.outbox_claim(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.outbox_claim(integer, integer) TO bulkhead_app;
