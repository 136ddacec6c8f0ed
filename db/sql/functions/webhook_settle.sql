-- Settles one claimed webhook delivery, as the owner role, only for the claim that holds it:
-- sent (p_error NULL), retried after p_retry_after_seconds, or dead once it has had
-- p_max_attempts. A dead one counts against its endpoint, which is disabled at p_disable_after
-- in a row (a delivery that arrives starts the count again). Returns 'sent', 'pending', 'dead',
-- 'disabled' (dead, and its endpoint disabled by it), or NULL when the claim was not this one's.
CREATE OR REPLACE FUNCTION app.webhook_settle(
  p_tenant uuid, p_id uuid, p_claim uuid, p_status integer, p_error text, p_retry_after_seconds integer,
  p_max_attempts integer, p_disable_after integer)
  RETURNS text
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_status text;
  v_webhook uuid;
  v_was_enabled boolean;
  v_enabled boolean;
  -- Taken before the statement: Citus refuses now() inside CASE in a distributed UPDATE.
  v_now timestamptz := now();
  v_retry_at timestamptz := now() + make_interval(secs => greatest(p_retry_after_seconds, 1));
BEGIN
  UPDATE public.webhook_deliveries d
     SET status = CASE WHEN p_error IS NULL THEN 'sent'
                       WHEN d.attempts >= p_max_attempts THEN 'dead'
                       ELSE 'pending' END,
         next_attempt_at = CASE WHEN p_error IS NULL OR d.attempts >= p_max_attempts THEN d.next_attempt_at
                                ELSE v_retry_at END,
         last_status = p_status,
         last_error = left(p_error, 500),
         claim_id = NULL,
         claimed_until = NULL,
         settled_at = CASE WHEN p_error IS NULL OR d.attempts >= p_max_attempts THEN v_now END
   WHERE d.tenant_id = p_tenant AND d.id = p_id AND d.claim_id = p_claim
  RETURNING d.status, d.webhook_id INTO v_status, v_webhook;
  IF v_status = 'sent' THEN
    UPDATE public.webhooks w SET consecutive_dead = 0
     WHERE w.tenant_id = p_tenant AND w.id = v_webhook AND w.consecutive_dead <> 0;
  ELSIF v_status = 'dead' THEN
    SELECT w.enabled INTO v_was_enabled FROM public.webhooks w
     WHERE w.tenant_id = p_tenant AND w.id = v_webhook FOR UPDATE;
    UPDATE public.webhooks w
       SET consecutive_dead = w.consecutive_dead + 1,
           enabled = w.enabled AND w.consecutive_dead + 1 < p_disable_after,
           disabled_at = CASE WHEN w.enabled AND w.consecutive_dead + 1 >= p_disable_after THEN v_now
                              ELSE w.disabled_at END
     WHERE w.tenant_id = p_tenant AND w.id = v_webhook
    RETURNING w.enabled INTO v_enabled;
    IF v_was_enabled AND NOT v_enabled THEN
      RETURN 'disabled';
    END IF;
  END IF;
  RETURN v_status;
END
$$;
ALTER FUNCTION app.webhook_settle(uuid, uuid, uuid, integer, text, integer, integer, integer) OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.webhook_settle(uuid, uuid, uuid, integer, text, integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.webhook_settle(uuid, uuid, uuid, integer, text, integer, integer, integer) TO bulkhead_app;
