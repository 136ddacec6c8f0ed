-- Settles one claimed message: sent (p_error NULL), retried later with exponential backoff
-- (p_retry_after_seconds), or dead after p_max_attempts, saying why. Only the claim that took
-- the row may settle it, so a dispatcher whose lease ran out cannot undo another's work. A
-- settled message keeps its recipient and subject but not its bodies (they may hold links with
-- tokens). Returns the status it left, or NULL when the claim was no longer this one's.
CREATE OR REPLACE FUNCTION app.outbox_settle(
  p_tenant uuid, p_id uuid, p_claim uuid, p_error text, p_retry_after_seconds integer, p_max_attempts integer)
  RETURNS text
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_status text;
  -- Taken before the statement: Citus refuses now() inside CASE in a distributed UPDATE.
  v_now timestamptz := now();
  v_retry_at timestamptz := now() + make_interval(secs => greatest(p_retry_after_seconds, 1));
BEGIN
  UPDATE public.outbox o
     SET status = CASE WHEN p_error IS NULL THEN 'sent'
                       WHEN o.attempts >= p_max_attempts THEN 'dead'
                       ELSE 'pending' END,
         next_attempt_at = CASE WHEN p_error IS NULL OR o.attempts >= p_max_attempts THEN o.next_attempt_at
                                ELSE v_retry_at END,
         last_error = left(p_error, 500),
         claim_id = NULL,
         claimed_until = NULL,
         settled_at = CASE WHEN p_error IS NULL OR o.attempts >= p_max_attempts THEN v_now END,
         payload = CASE WHEN p_error IS NULL OR o.attempts >= p_max_attempts
                        THEN o.payload - 'text' - 'html' - 'link' ELSE o.payload END
   WHERE o.tenant_id = p_tenant AND o.id = p_id AND o.claim_id = p_claim
  RETURNING o.status INTO v_status;
  RETURN v_status;
END
$$;
ALTER FUNCTION app.outbox_settle(uuid, uuid, uuid, text, integer, integer) OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.outbox_settle(uuid, uuid, uuid, text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.outbox_settle(uuid, uuid, uuid, text, integer, integer) TO bulkhead_app;
