-- Expired rows do not pile up: refresh tokens past their expiry (every refresh adds a row to its
-- family), invitations past theirs, and login/sign-up throttle windows long over.
--
-- app.prune_expired runs as bulkhead_owner, which FORCE RLS confines like every other role: the
-- policies below (from db/schema.ts) let it see and delete a row of any tenant only once that
-- row has expired, so whatever the function's own WHERE says, nothing live can be deleted. Each
-- call deletes at most p_batch rows per table and says only whether a table had more, so the
-- runtime role that calls it learns nothing about other tenants. One caller at a time (several
-- instances run it on a timer): the others return at once.
CREATE POLICY "the owner role sees expired invitations, to prune them" ON "invitations" AS PERMISSIVE FOR SELECT TO "bulkhead_owner" USING ("invitations"."expires_at" < now());--> statement-breakpoint
CREATE POLICY "the owner role deletes expired invitations" ON "invitations" AS PERMISSIVE FOR DELETE TO "bulkhead_owner" USING ("invitations"."expires_at" < now());--> statement-breakpoint
CREATE POLICY "the owner role sees expired refresh tokens, to prune them" ON "refresh_tokens" AS PERMISSIVE FOR SELECT TO "bulkhead_owner" USING ("refresh_tokens"."expires_at" < now());--> statement-breakpoint
CREATE POLICY "the owner role deletes expired refresh tokens" ON "refresh_tokens" AS PERMISSIVE FOR DELETE TO "bulkhead_owner" USING ("refresh_tokens"."expires_at" < now());--> statement-breakpoint

CREATE FUNCTION app.prune_expired(p_batch integer, p_throttle_window_seconds integer)
  RETURNS boolean
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_deleted bigint;
  v_more boolean := false;
BEGIN
  IF p_batch IS NULL OR p_batch < 1 OR p_throttle_window_seconds IS NULL OR p_throttle_window_seconds < 1 THEN
    RAISE EXCEPTION 'prune_expired: batch and window must be positive' USING ERRCODE = '22023';
  END IF;
  IF NOT pg_try_advisory_xact_lock(724311902) THEN
    RETURN false;
  END IF;
  DELETE FROM public.refresh_tokens WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM public.refresh_tokens WHERE expires_at < now() LIMIT p_batch));
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  v_more := v_more OR v_deleted >= p_batch;
  DELETE FROM public.invitations WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM public.invitations WHERE expires_at < now() LIMIT p_batch));
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  v_more := v_more OR v_deleted >= p_batch;
  DELETE FROM public.login_throttle WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM public.login_throttle
     WHERE window_started_at < now() - make_interval(secs => p_throttle_window_seconds) LIMIT p_batch));
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  v_more := v_more OR v_deleted >= p_batch;
  RETURN v_more;
END
$$;--> statement-breakpoint
ALTER FUNCTION app.prune_expired(integer, integer) OWNER TO bulkhead_owner;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.prune_expired(integer, integer) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.prune_expired(integer, integer) TO bulkhead_app;
