-- The quota trigger (AFTER INSERT and AFTER DELETE, once per statement, with the statement's rows
-- as the transition table `changed`, and the quota's name as its argument): keeps public.tenant_usage and refuses an insert past its
-- limit, in the inserting transaction and as the inserting role, under RLS. Each scope's count is
-- taken with one row-locked UPDATE ... WHERE used + n <= limit, so parallel inserts queue on the
-- usage row and exactly the limit get through (race-free under READ COMMITTED: a waiting UPDATE
-- re-checks the row it waited for); a statement of many rows touches each usage row once. The
-- first insert of a scope counts what is already there. Pending invitations are counted afresh
-- under the same lock instead (they stop pending by expiring, which no statement announces).
-- Inserts into a workspace scheduled for deletion are refused too (BH423), whatever path made
-- them (app.enter_member refuses members' changes before any statement of theirs).
--
--   BH429  a limit is reached: DETAIL is the quota's name, HINT its limit
--   BH423  the workspace is scheduled for deletion
--
-- Limits: the tenant's public.tenant_limits row where a column is set, else the defaults below.
CREATE OR REPLACE FUNCTION app.count_usage()
  RETURNS trigger
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_kind text;
  v_groups jsonb;
  v_group record;
  v_limit integer;
  v_used integer;
BEGIN
  -- The trigger names its quota (CREATE TRIGGER ... count_usage('projects')): TG_TABLE_NAME is
  -- the shard's name on Citus (projects_102008), so the table's name cannot say.
  v_kind := TG_ARGV[0];
  -- The statement's rows, grouped by tenant and scope (the tenant, or the project or task).
  CASE v_kind
    WHEN 'projects', 'members', 'pending_invitations' THEN
      SELECT jsonb_agg(jsonb_build_object('t', g.tenant_id, 's', g.tenant_id, 'n', g.n)) INTO v_groups
        FROM (SELECT c.tenant_id, count(*) AS n FROM changed c GROUP BY c.tenant_id) g;
    WHEN 'tasks_per_project' THEN
      SELECT jsonb_agg(jsonb_build_object('t', g.tenant_id, 's', g.project_id, 'n', g.n)) INTO v_groups
        FROM (SELECT c.tenant_id, c.project_id, count(*) AS n FROM changed c GROUP BY c.tenant_id, c.project_id) g;
    WHEN 'comments_per_task' THEN
      SELECT jsonb_agg(jsonb_build_object('t', g.tenant_id, 's', g.task_id, 'n', g.n)) INTO v_groups
        FROM (SELECT c.tenant_id, c.task_id, count(*) AS n FROM changed c GROUP BY c.tenant_id, c.task_id) g;
    ELSE RAISE EXCEPTION 'app.count_usage: no quota named % (trigger % on %)', v_kind, TG_NAME, TG_TABLE_NAME;
  END CASE;

  FOR v_group IN
    SELECT (e ->> 't')::uuid AS tenant_id, (e ->> 's')::uuid AS scope_id, (e ->> 'n')::integer AS n
      FROM jsonb_array_elements(coalesce(v_groups, '[]')) e
  LOOP
    IF TG_OP = 'DELETE' THEN
      -- Pending invitations are recounted at each insert; a workspace being erased loses its
      -- usage rows with it.
      CONTINUE WHEN v_kind = 'pending_invitations'
                 OR pg_catalog.current_setting('app.erasing', true) = v_group.tenant_id::text;
      UPDATE public.tenant_usage u SET used = greatest(u.used - v_group.n, 0)
       WHERE u.tenant_id = v_group.tenant_id AND u.kind = v_kind AND u.scope_id = v_group.scope_id;
      CONTINUE;
    END IF;

    IF EXISTS (SELECT 1 FROM public.tenants t WHERE t.id = v_group.tenant_id AND t.deletion_due_at IS NOT NULL) THEN
      RAISE EXCEPTION 'workspace scheduled for deletion' USING ERRCODE = 'BH423';
    END IF;
    v_limit := NULL;
    SELECT CASE v_kind
             WHEN 'projects' THEN l.projects
             WHEN 'tasks_per_project' THEN l.tasks_per_project
             WHEN 'comments_per_task' THEN l.comments_per_task
             WHEN 'members' THEN l.members
             WHEN 'pending_invitations' THEN l.pending_invitations
           END
      INTO v_limit FROM public.tenant_limits l WHERE l.tenant_id = v_group.tenant_id;
    v_limit := coalesce(v_limit, CASE v_kind
      WHEN 'projects' THEN 10000
      WHEN 'tasks_per_project' THEN 100000
      WHEN 'comments_per_task' THEN 10000
      WHEN 'members' THEN 10000
      WHEN 'pending_invitations' THEN 1000
    END);

    IF v_kind = 'pending_invitations' THEN
      INSERT INTO public.tenant_usage (tenant_id, kind, scope_id, used) VALUES (v_group.tenant_id, v_kind, v_group.scope_id, 0)
        ON CONFLICT (tenant_id, kind, scope_id) DO NOTHING;
      PERFORM 1 FROM public.tenant_usage u
        WHERE u.tenant_id = v_group.tenant_id AND u.kind = v_kind AND u.scope_id = v_group.scope_id FOR UPDATE;
      SELECT count(*) INTO v_used FROM public.invitations i
       WHERE i.tenant_id = v_group.tenant_id AND i.accepted_at IS NULL AND i.expires_at > now();
      CONTINUE WHEN v_used <= v_limit;
      RAISE EXCEPTION 'limit reached' USING ERRCODE = 'BH429', DETAIL = v_kind, HINT = v_limit::text;
    END IF;

    v_used := NULL;
    UPDATE public.tenant_usage u SET used = u.used + v_group.n
     WHERE u.tenant_id = v_group.tenant_id AND u.kind = v_kind AND u.scope_id = v_group.scope_id
       AND u.used + v_group.n <= v_limit
    RETURNING u.used INTO v_used;
    CONTINUE WHEN v_used IS NOT NULL;

    IF NOT EXISTS (SELECT 1 FROM public.tenant_usage u
                    WHERE u.tenant_id = v_group.tenant_id AND u.kind = v_kind AND u.scope_id = v_group.scope_id) THEN
      -- The scope's first counted insert: what is there already, this statement's rows included.
      CASE v_kind
        WHEN 'projects' THEN SELECT count(*) INTO v_used FROM public.projects p WHERE p.tenant_id = v_group.tenant_id;
        WHEN 'tasks_per_project' THEN
          SELECT count(*) INTO v_used FROM public.tasks x
           WHERE x.tenant_id = v_group.tenant_id AND x.project_id = v_group.scope_id;
        WHEN 'comments_per_task' THEN
          SELECT count(*) INTO v_used FROM public.comments c
           WHERE c.tenant_id = v_group.tenant_id AND c.task_id = v_group.scope_id;
        WHEN 'members' THEN SELECT count(*) INTO v_used FROM public.users m WHERE m.tenant_id = v_group.tenant_id;
      END CASE;
      IF v_used <= v_limit THEN
        -- Another transaction may have made the row meanwhile: then only this statement's rows add.
        INSERT INTO public.tenant_usage AS u (tenant_id, kind, scope_id, used)
          VALUES (v_group.tenant_id, v_kind, v_group.scope_id, v_used)
          ON CONFLICT (tenant_id, kind, scope_id) DO UPDATE SET used = u.used + v_group.n
            WHERE u.used + v_group.n <= v_limit
        RETURNING u.used INTO v_used;
        CONTINUE WHEN FOUND;
      END IF;
    ELSE
      -- The row is there now but was not when the UPDATE above took its snapshot: another
      -- transaction's first insert of this scope committed in between. Count against it.
      UPDATE public.tenant_usage u SET used = u.used + v_group.n
       WHERE u.tenant_id = v_group.tenant_id AND u.kind = v_kind AND u.scope_id = v_group.scope_id
         AND u.used + v_group.n <= v_limit
      RETURNING u.used INTO v_used;
      CONTINUE WHEN v_used IS NOT NULL;
    END IF;
    RAISE EXCEPTION 'limit reached' USING ERRCODE = 'BH429', DETAIL = v_kind, HINT = v_limit::text;
  END LOOP;
  RETURN NULL;
END
$$;
ALTER FUNCTION app.count_usage() OWNER TO bulkhead_owner;
REVOKE ALL ON FUNCTION app.count_usage() FROM PUBLIC;
