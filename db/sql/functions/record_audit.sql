-- Records a change of the caller's tenant in the caller's transaction, as the caller (the runtime
-- role, under RLS): the audit rows; with change events, the tenant's next event ids (its
-- event_sequences row, which the transaction then holds until it commits, so a tenant's ids
-- commit in their order, without gaps), the events, and a NOTIFY that PostgreSQL delivers only at
-- commit (docs/decisions/024-events-beside-the-audit-row.md), and for each enabled webhook that
-- takes an event's type, its delivery (the body every attempt posts). One call, so a write pays one
-- round trip for all of it. Row by row inside: Citus runs an INSERT ... SELECT into a distributed
-- table as a COPY, which RLS refuses, and routes each INSERT ... VALUES to its tenant's shard.
-- The actor is p_actor, of the type app.enter_member set (app.actor_type: 'api_key' for a key's
-- request), else a person ('user'): no caller can name its own type.
-- p_audits: [{ action, target_type, target_id }]; p_events: [{ type, entity_id, project_id,
-- task_id, payload }], where a null project_id with a task_id is that task's project.
CREATE OR REPLACE FUNCTION app.record_audit(p_tenant uuid, p_actor uuid, p_request_id text, p_client_address inet,
                                            p_audits jsonb, p_events jsonb)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_audit record;
  v_event record;
  v_count integer := pg_catalog.jsonb_array_length(p_events);
  v_last bigint;
  v_ord integer := 0;
  v_project uuid;
  v_id bigint;
  v_at text := pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
  v_hook record;
  v_actor_type text := coalesce(nullif(pg_catalog.current_setting('app.actor_type', true), ''), 'user');
BEGIN
  FOR v_audit IN SELECT * FROM pg_catalog.jsonb_to_recordset(p_audits) AS a (action text, target_type text, target_id uuid) LOOP
    INSERT INTO public.audit_events (tenant_id, actor_id, actor_type, action, target_type, target_id, request_id, client_address)
    VALUES (p_tenant, p_actor, v_actor_type, v_audit.action, v_audit.target_type, v_audit.target_id, p_request_id, p_client_address);
  END LOOP;
  IF v_count = 0 THEN
    RETURN;
  END IF;
  INSERT INTO public.event_sequences AS s (tenant_id, last_id) VALUES (p_tenant, v_count)
    ON CONFLICT (tenant_id) DO UPDATE SET last_id = s.last_id + excluded.last_id
    RETURNING s.last_id INTO v_last;
  FOR v_event IN SELECT * FROM pg_catalog.jsonb_to_recordset(p_events)
                   AS e (type text, entity_id uuid, project_id uuid, task_id uuid, payload jsonb) LOOP
    v_ord := v_ord + 1;
    v_project := v_event.project_id;
    IF v_project IS NULL AND v_event.task_id IS NOT NULL THEN
      SELECT t.project_id INTO v_project FROM public.tasks t WHERE t.tenant_id = p_tenant AND t.id = v_event.task_id;
    END IF;
    v_id := v_last - v_count + v_ord;
    INSERT INTO public.events (tenant_id, id, type, entity_id, project_id, actor_id, payload)
    VALUES (p_tenant, v_id, v_event.type, v_event.entity_id, v_project, p_actor, v_event.payload);
    FOR v_hook IN SELECT w.id FROM public.webhooks w
                   WHERE w.tenant_id = p_tenant AND w.enabled AND v_event.type = ANY (w.event_types) LOOP
      INSERT INTO public.webhook_deliveries (tenant_id, webhook_id, event_id, payload)
      VALUES (p_tenant, v_hook.id, v_id, pg_catalog.jsonb_build_object(
        'type', v_event.type,
        'timestamp', v_at,
        'data', pg_catalog.jsonb_build_object(
          'id', v_id::text, 'type', v_event.type, 'entityId', v_event.entity_id, 'projectId', v_project,
          'actorId', p_actor, 'payload', v_event.payload, 'createdAt', v_at)));
    END LOOP;
  END LOOP;
  PERFORM pg_catalog.pg_notify('bulkhead_events', p_tenant::text);
END
$$;
REVOKE ALL ON FUNCTION app.record_audit(uuid, uuid, text, inet, jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.record_audit(uuid, uuid, text, inet, jsonb, jsonb) TO bulkhead_app;
