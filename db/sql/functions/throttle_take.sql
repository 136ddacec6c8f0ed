-- Reserves one attempt under every key before a password is hashed, atomically: the keys' rows
-- are locked in key order (so concurrent callers cannot deadlock), and the attempt is counted
-- under every key or, when any key has used its limit in the current window, under none.
-- Returns 0 (go ahead) or the seconds to wait
-- (docs/decisions/002-throttle-reserves-before-hashing.md).
CREATE OR REPLACE FUNCTION app.throttle_take(p_keys text[], p_limits integer[], p_window_seconds integer)
  RETURNS integer
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_window interval;
  v_wait integer;
BEGIN
  IF p_keys IS NULL OR p_limits IS NULL OR cardinality(p_keys) <> cardinality(p_limits)
     OR p_window_seconds IS NULL OR p_window_seconds < 1 THEN
    RAISE EXCEPTION 'throttle_take: one limit per key and a positive window' USING ERRCODE = '22023';
  END IF;
  v_window := make_interval(secs => p_window_seconds);
  INSERT INTO public.login_throttle AS l (key, failures, window_started_at)
    SELECT k, 0, now() FROM unnest(p_keys) AS k ORDER BY k
    ON CONFLICT (key) DO NOTHING;
  PERFORM 1 FROM public.login_throttle l WHERE l.key = ANY (p_keys) ORDER BY l.key FOR UPDATE;
  SELECT max(greatest(ceil(extract(epoch FROM (l.window_started_at + v_window - now()))), 1))::integer
    INTO v_wait
    FROM public.login_throttle l
    JOIN unnest(p_keys, p_limits) AS k(key, max_attempts) ON k.key = l.key
   WHERE l.window_started_at + v_window > now() AND l.failures >= k.max_attempts;
  IF v_wait IS NOT NULL THEN
    RETURN v_wait;
  END IF;
  UPDATE public.login_throttle l SET
    failures = CASE WHEN l.window_started_at + v_window > now() THEN l.failures + 1 ELSE 1 END,
    window_started_at = CASE WHEN l.window_started_at + v_window > now() THEN l.window_started_at ELSE now() END
   WHERE l.key = ANY (p_keys);
  RETURN 0;
END
$$;
ALTER FUNCTION app.throttle_take(text[], integer[], integer) OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.throttle_take(text[], integer[], integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.throttle_take(text[], integer[], integer) TO bulkhead_app;
