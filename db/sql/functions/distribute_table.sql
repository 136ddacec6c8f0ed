-- For a migration that adds a tenant table: on a Citus coordinator, distributes it by tenant_id,
-- colocated with the other tenant tables; elsewhere, does nothing. Call it after CREATE TABLE
-- and before the table's foreign keys to other tenant tables (Citus refuses a key from a local
-- table to a distributed one): docs/adding-a-resource.md. `npm run db:migrate` distributes any
-- tenant table a migration left local, too (db/distribute.ts), when it has no such key.
CREATE OR REPLACE FUNCTION app.distribute_table(p_table regclass)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
    RETURN;
  END IF;
  -- Dynamic: pg_dist_partition and create_distributed_table exist only where Citus does.
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition d WHERE d.logicalrelid = p_table AND d.partmethod = 'h') THEN
    SET LOCAL citus.enable_unsafe_triggers = on;
    EXECUTE pg_catalog.format('SELECT pg_catalog.create_distributed_table(%L, %L, colocate_with => %L)',
                              p_table::text, 'tenant_id', 'public.users');
  END IF;
END
$$;
REVOKE ALL ON FUNCTION app.distribute_table(regclass) FROM PUBLIC;
