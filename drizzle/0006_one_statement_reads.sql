-- One-statement reads: the hottest queries (a page or one row of projects and tasks) as SQL
-- functions that set their own tenant context, so a read is one prepared statement — no
-- reserved connection, no BEGIN, no COMMIT. Each function is SECURITY INVOKER (it runs as the
-- caller, bulkhead_app, under FORCE RLS like any query) and starts with app.enter_read, which
-- calls app.set_context — the same context, transaction-local to this statement's implicit
-- transaction — and raises unless the caller is a live member. Their queries are planned after
-- that, so RLS applies even on PGlite, where the connection is a superuser until set_context
-- switches the role. Nothing of the context survives the statement.
--
-- Timestamps are returned as milliseconds since the epoch (exact for timestamp(3)): cheaper for
-- PostgreSQL to send than timestamptz text and for the server to turn into a Date.
--
-- Error codes (class BH, caught by the server, never shown as SQL):
--   BH401  the caller is not a member of the tenant, or the token's session is over
--   BH403  the request names a tenant (X-Tenant, subdomain) other than the token's
--   BH404  a parent row the read is scoped to (a task list's project) does not exist here

CREATE FUNCTION app.enter_read(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer, p_session uuid,
                               p_tenant_slug text)
  RETURNS text
  LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  v_role text;
BEGIN
  -- A read always acts for a signed-in member of a session: nothing here is optional.
  IF p_tenant IS NULL OR p_user IS NULL OR p_session IS NULL THEN
    RAISE EXCEPTION 'not a member' USING ERRCODE = 'BH401';
  END IF;
  v_role := app.set_context(p_tenant, p_user, p_statement_timeout_ms, p_session);
  IF v_role IS NULL THEN
    RAISE EXCEPTION 'not a member' USING ERRCODE = 'BH401';
  END IF;
  -- Read under RLS in the tenant just set: another tenant's slug is simply not there.
  IF p_tenant_slug IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM public.tenants t WHERE t.id = p_tenant AND t.slug = p_tenant_slug) THEN
    RAISE EXCEPTION 'tenant mismatch' USING ERRCODE = 'BH403';
  END IF;
  RETURN v_role;
END
$$;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.enter_read(uuid, uuid, integer, uuid, text) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.enter_read(uuid, uuid, integer, uuid, text) TO bulkhead_app;--> statement-breakpoint

-- Pages are newest first, `desc nulls last` as the (tenant_id, ..., created_at desc, id desc)
-- indexes are built; the first page and later pages are separate queries so each keeps its own
-- index-ordered plan (an OR of the two would cost later pages a scan from the top).
CREATE FUNCTION app.read_projects_page(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer,
                                       p_session uuid, p_tenant_slug text, p_limit integer,
                                       p_after_created_at timestamptz, p_after_id uuid)
  RETURNS TABLE (id uuid, name text, description text, created_by uuid,
                 created_at_ms double precision, updated_at_ms double precision)
  LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM app.enter_read(p_tenant, p_user, p_statement_timeout_ms, p_session, p_tenant_slug);
  IF p_after_id IS NULL THEN
    RETURN QUERY
      SELECT p.id, p.name, p.description, p.created_by,
             round(date_part('epoch', p.created_at) * 1000), round(date_part('epoch', p.updated_at) * 1000)
        FROM public.projects p
       WHERE p.tenant_id = p_tenant
       ORDER BY p.created_at DESC NULLS LAST, p.id DESC NULLS LAST
       LIMIT p_limit;
  ELSE
    RETURN QUERY
      SELECT p.id, p.name, p.description, p.created_by,
             round(date_part('epoch', p.created_at) * 1000), round(date_part('epoch', p.updated_at) * 1000)
        FROM public.projects p
       WHERE p.tenant_id = p_tenant AND (p.created_at, p.id) < (p_after_created_at, p_after_id)
       ORDER BY p.created_at DESC NULLS LAST, p.id DESC NULLS LAST
       LIMIT p_limit;
  END IF;
END
$$;--> statement-breakpoint

CREATE FUNCTION app.read_project(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer, p_session uuid,
                                 p_tenant_slug text, p_id uuid)
  RETURNS TABLE (id uuid, name text, description text, created_by uuid,
                 created_at_ms double precision, updated_at_ms double precision)
  LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM app.enter_read(p_tenant, p_user, p_statement_timeout_ms, p_session, p_tenant_slug);
  RETURN QUERY
    SELECT p.id, p.name, p.description, p.created_by,
             round(date_part('epoch', p.created_at) * 1000), round(date_part('epoch', p.updated_at) * 1000)
      FROM public.projects p
     WHERE p.tenant_id = p_tenant AND p.id = p_id;
END
$$;--> statement-breakpoint

CREATE FUNCTION app.read_tasks_page(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer, p_session uuid,
                                    p_tenant_slug text, p_project_id uuid, p_status text, p_limit integer,
                                    p_after_created_at timestamptz, p_after_id uuid)
  RETURNS TABLE (id uuid, project_id uuid, title text, status text, assignee_id uuid,
                 created_at_ms double precision, updated_at_ms double precision)
  LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM app.enter_read(p_tenant, p_user, p_statement_timeout_ms, p_session, p_tenant_slug);
  -- Another tenant's project reads as a missing one (RLS hides it): the same error either way.
  IF NOT EXISTS (SELECT 1 FROM public.projects p WHERE p.tenant_id = p_tenant AND p.id = p_project_id) THEN
    RAISE EXCEPTION 'project not found' USING ERRCODE = 'BH404';
  END IF;
  IF p_after_id IS NULL THEN
    RETURN QUERY
      SELECT t.id, t.project_id, t.title, t.status, t.assignee_id,
             round(date_part('epoch', t.created_at) * 1000), round(date_part('epoch', t.updated_at) * 1000)
        FROM public.tasks t
       WHERE t.tenant_id = p_tenant AND t.project_id = p_project_id
         AND (p_status IS NULL OR t.status = p_status)
       ORDER BY t.created_at DESC NULLS LAST, t.id DESC NULLS LAST
       LIMIT p_limit;
  ELSE
    RETURN QUERY
      SELECT t.id, t.project_id, t.title, t.status, t.assignee_id,
             round(date_part('epoch', t.created_at) * 1000), round(date_part('epoch', t.updated_at) * 1000)
        FROM public.tasks t
       WHERE t.tenant_id = p_tenant AND t.project_id = p_project_id
         AND (p_status IS NULL OR t.status = p_status)
         AND (t.created_at, t.id) < (p_after_created_at, p_after_id)
       ORDER BY t.created_at DESC NULLS LAST, t.id DESC NULLS LAST
       LIMIT p_limit;
  END IF;
END
$$;--> statement-breakpoint

CREATE FUNCTION app.read_task(p_tenant uuid, p_user uuid, p_statement_timeout_ms integer, p_session uuid,
                              p_tenant_slug text, p_id uuid)
  RETURNS TABLE (id uuid, project_id uuid, title text, status text, assignee_id uuid,
                 created_at_ms double precision, updated_at_ms double precision)
  LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM app.enter_read(p_tenant, p_user, p_statement_timeout_ms, p_session, p_tenant_slug);
  RETURN QUERY
    SELECT t.id, t.project_id, t.title, t.status, t.assignee_id,
             round(date_part('epoch', t.created_at) * 1000), round(date_part('epoch', t.updated_at) * 1000)
      FROM public.tasks t
     WHERE t.tenant_id = p_tenant AND t.id = p_id;
END
$$;--> statement-breakpoint

REVOKE ALL ON FUNCTION app.read_projects_page(uuid, uuid, integer, uuid, text, integer, timestamptz, uuid) FROM PUBLIC;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.read_project(uuid, uuid, integer, uuid, text, uuid) FROM PUBLIC;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.read_tasks_page(uuid, uuid, integer, uuid, text, uuid, text, integer, timestamptz, uuid) FROM PUBLIC;--> statement-breakpoint
REVOKE ALL ON FUNCTION app.read_task(uuid, uuid, integer, uuid, text, uuid) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app.read_projects_page(uuid, uuid, integer, uuid, text, integer, timestamptz, uuid),
  app.read_project(uuid, uuid, integer, uuid, text, uuid),
  app.read_tasks_page(uuid, uuid, integer, uuid, text, uuid, text, integer, timestamptz, uuid),
  app.read_task(uuid, uuid, integer, uuid, text, uuid) TO bulkhead_app;--> statement-breakpoint

-- statement_timeout is armed when a statement starts, so the one app.set_context sets applies
-- to the statements after it in a transaction, never to the statement it runs in. A
-- one-statement read therefore runs under the runtime role's own default: give it one (the
-- server's default STATEMENT_TIMEOUT_MS). Transactions still set theirs on top.
ALTER ROLE bulkhead_app SET statement_timeout = '5s';
