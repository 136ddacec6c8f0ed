-- An API key's request budget, shared by every server instance: a server takes a slice of the
-- current minute's budget (up to p_want of p_limit) and spends it locally, so a request costs
-- no write here in the common case (docs/decisions/026-api-key-budget-in-slices.md). The slice
-- is taken under the key's usage row lock, so concurrent takers never hand out more than p_limit
-- in a minute. It is also the key's lookup: a key unknown to the tenant, revoked, expired or
-- presented with another secret gets no budget (p_granted NULL), and a live one has its
-- last_used_at written, at most once a minute. Runs as the runtime role in the key's tenant,
-- under RLS, in the caller's one statement.
-- Returns p_granted (0 when the minute's budget is spent), p_used (this minute, the slice
-- included) and p_reset_ms (milliseconds until the next minute's budget starts).
CREATE OR REPLACE FUNCTION app.api_key_take(p_tenant uuid, p_key uuid, p_key_hash text, p_want integer,
                                            p_limit integer,
                                            OUT p_granted integer, OUT p_used integer, OUT p_reset_ms integer)
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_now timestamptz := pg_catalog.now();
  v_window timestamptz := pg_catalog.date_trunc('minute', pg_catalog.now());
  v_stale timestamptz := pg_catalog.now() - interval '1 minute';
  v_used integer;
BEGIN
  IF p_want IS NULL OR p_want < 1 OR p_limit IS NULL OR p_limit < 1 THEN
    RAISE EXCEPTION 'api_key_take: want and limit must be positive' USING ERRCODE = '22023';
  END IF;
  PERFORM app.set_context(p_tenant, NULL, 5000, NULL, false);
  p_reset_ms := greatest(1, ceil(extract(epoch FROM v_window + interval '1 minute' - v_now) * 1000))::integer;
  PERFORM 1 FROM public.api_keys k
   WHERE k.tenant_id = p_tenant AND k.id = p_key AND k.secret_hash = p_key_hash
     AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > v_now);
  IF NOT FOUND THEN
    RETURN;
  END IF;
  -- The row is this key's counter; the upsert locks it until the statement's transaction ends.
  INSERT INTO public.api_key_usage AS u (tenant_id, key_id, window_start, used)
  VALUES (p_tenant, p_key, v_window, 0)
  ON CONFLICT (tenant_id, key_id) DO UPDATE SET window_start = excluded.window_start,
    used = CASE WHEN u.window_start = excluded.window_start THEN u.used ELSE 0 END
  RETURNING u.used INTO v_used;
  p_granted := least(p_want, greatest(p_limit - v_used, 0));
  p_used := v_used + p_granted;
  IF p_granted > 0 THEN
    UPDATE public.api_key_usage u SET used = p_used WHERE u.tenant_id = p_tenant AND u.key_id = p_key;
  END IF;
  UPDATE public.api_keys k SET last_used_at = v_now
   WHERE k.tenant_id = p_tenant AND k.id = p_key AND (k.last_used_at IS NULL OR k.last_used_at < v_stale);
END
$$;
REVOKE ALL ON FUNCTION app.api_key_take(uuid, uuid, text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.api_key_take(uuid, uuid, text, integer, integer) TO bulkhead_app;
