-- Gives attempts back: one under each key of p_refund (a success's own reservation), and clears
-- the keys of p_clear (an account's failures after it signs in). Rows locked in key order, as
-- throttle_take locks them.
CREATE OR REPLACE FUNCTION app.throttle_refund(p_refund text[], p_clear text[])
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM 1 FROM public.login_throttle l
   WHERE l.key = ANY (p_refund) OR l.key = ANY (p_clear) ORDER BY l.key FOR UPDATE;
  UPDATE public.login_throttle l SET failures = greatest(l.failures - 1, 0) WHERE l.key = ANY (p_refund);
  DELETE FROM public.login_throttle l WHERE l.key = ANY (p_clear);
END
$$;
ALTER FUNCTION app.throttle_refund(text[], text[]) OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.throttle_refund(text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.throttle_refund(text[], text[]) TO bulkhead_app;
