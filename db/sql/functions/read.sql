-- The one-statement read: any SELECT the server builds with Drizzle, run for a member in one
-- statement with no BEGIN or COMMIT (db/reads.ts; docs/decisions/006-one-generic-read.md).
-- It enters the member's context first (app.enter_member: BH401/BH403, then read-only), and
-- only then plans and runs the query, as the runtime role under FORCE RLS.
--
-- The query is kept as a prepared statement named p_name, `bulkhead_read_` and the first 32 hex
-- digits of its text's SHA-256, so it is planned once per connection, as the static SQL of a
-- PL/pgSQL function would be. p_query, the SELECT's text with $1..$n placeholders, may be left
-- NULL once the caller has sent it: a connection that has not prepared p_name yet then answers
-- 26000, and the caller sends the text (docs/decisions/016-reads-send-their-text-once.md).
-- p_params are its values as text; they reach EXECUTE as quoted literals (quote_nullable), never
-- as SQL. A connection keeps at most 256 of these statements: past that it drops its own and
-- starts again. The caller names the result's columns (`AS r(...)`).
--
-- On Citus, distribute it by p_tenant (create_distributed_function), colocated with the tenant
-- tables: the call then runs on the worker holding that tenant's shards (docs/scaling-out.md).
CREATE OR REPLACE FUNCTION app.read(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer, p_session uuid,
                                    p_tenant_slug text, p_name text, p_query text, p_params text[], p_key_hash text)
  RETURNS SETOF record
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  v_args text;
  v_stale text;
  v_execute text;
  v_value text;
BEGIN
  PERFORM app.enter_member(p_tenant, p_user, p_statement_timeout_ms, p_session, p_tenant_slug, false, false, p_key_hash, false);
  IF p_name IS NULL OR p_name !~ '^bulkhead_read_[0-9a-f]{32}$' THEN
    RAISE EXCEPTION 'read: name the statement bulkhead_read_<sha256 of its text>' USING ERRCODE = '22023';
  END IF;
  IF p_query IS NOT NULL THEN
    IF pg_catalog.strpos(p_query, ';') > 0 THEN
      RAISE EXCEPTION 'read: one statement, without a semicolon' USING ERRCODE = '42601';
    END IF;
    IF pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_query, 'UTF8')), 'hex'), 32)
       <> pg_catalog.substr(p_name, 15) THEN
      RAISE EXCEPTION 'read: the statement''s name is not the SHA-256 of its text' USING ERRCODE = '22023';
    END IF;
  END IF;
  -- A loop, not string_agg over unnest: a query here cost more than the rest of the function.
  IF p_params IS NOT NULL THEN
    FOREACH v_value IN ARRAY p_params LOOP
      v_args := CASE WHEN v_args IS NULL THEN '' ELSE v_args || ', ' END || pg_catalog.quote_nullable(v_value);
    END LOOP;
  END IF;
  v_execute := pg_catalog.format('EXECUTE %I%s', p_name, CASE WHEN v_args IS NULL THEN '' ELSE '(' || v_args || ')' END);
  BEGIN
    RETURN QUERY EXECUTE v_execute;
  EXCEPTION WHEN invalid_sql_statement_name OR syntax_error THEN
    -- EXECUTE of a statement this connection has not prepared (yet) fails, as 26000 or, when
    -- it is asked for rows, as 42601; anything else is re-raised. Finding out so costs less than
    -- looking it up in pg_prepared_statements on every call (docs/decisions/006-one-generic-read.md).
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_statements s WHERE s.name = p_name) THEN
      RAISE;
    END IF;
    IF p_query IS NULL THEN
      RAISE EXCEPTION 'read: % is not prepared on this connection; send its text', p_name USING ERRCODE = '26000';
    END IF;
    IF (SELECT count(*) FROM pg_catalog.pg_prepared_statements s WHERE s.name LIKE 'bulkhead\_read\_%') >= 256 THEN
      FOR v_stale IN SELECT s.name FROM pg_catalog.pg_prepared_statements s WHERE s.name LIKE 'bulkhead\_read\_%' LOOP
        EXECUTE pg_catalog.format('DEALLOCATE %I', v_stale);
      END LOOP;
    END IF;
    EXECUTE pg_catalog.format('PREPARE %I AS %s', p_name, p_query);
    RETURN QUERY EXECUTE v_execute;
  END;
END
$$;
REVOKE ALL ON FUNCTION app.read(uuid, uuid, integer, uuid, text, text, text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.read(uuid, uuid, integer, uuid, text, text, text, text[], text) TO bulkhead_app;
