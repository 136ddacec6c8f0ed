-- Issue 31: the tenant's change log (events) and its per-tenant id (event_sequences).
-- The owner role's event policies read the retention through a function, as the audit ones do
-- (db/sql/functions/event_retention_days.sql keeps the same text).
CREATE OR REPLACE FUNCTION app.event_retention_days()
  RETURNS integer
  LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
 SELECT (NULLIF(current_setting('app.event_retention_days'::text, true), ''::text))::integer AS event_retention_days;
END;--> statement-breakpoint
CREATE TABLE "event_sequences" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"last_id" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "event_sequences" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "events" (
	"tenant_id" uuid NOT NULL,
	"id" bigint NOT NULL,
	"type" text NOT NULL,
	"entity_id" uuid NOT NULL,
	"project_id" uuid,
	"actor_id" uuid,
	"payload" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "events_pkey" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "events" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "event_sequences" ADD CONSTRAINT "event_sequences_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "events_tenant_project_idx" ON "events" USING btree ("tenant_id","project_id","id");--> statement-breakpoint
CREATE INDEX "events_created_idx" ON "events" USING btree ("created_at");--> statement-breakpoint
CREATE POLICY "event_sequences are seen and written only within their tenant" ON "event_sequences" AS PERMISSIVE FOR ALL TO public USING ("event_sequences"."tenant_id" = app.current_tenant_id()) WITH CHECK ("event_sequences"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "events are seen and written only within their tenant" ON "events" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("events"."tenant_id" = app.current_tenant_id()) WITH CHECK ("events"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "the owner role selects expired or erased events" ON "events" AS PERMISSIVE FOR SELECT TO "bulkhead_owner" USING ("events"."created_at" < now() - make_interval(days => app.event_retention_days())
          or ("events"."tenant_id" = app.current_tenant_id() and "events"."tenant_id" = app.erasing_tenant_id()));--> statement-breakpoint
CREATE POLICY "the owner role deletes expired or erased events" ON "events" AS PERMISSIVE FOR DELETE TO "bulkhead_owner" USING ("events"."created_at" < now() - make_interval(days => app.event_retention_days())
          or ("events"."tenant_id" = app.current_tenant_id() and "events"."tenant_id" = app.erasing_tenant_id()));--> statement-breakpoint
ALTER POLICY "the owner role selects expired or erased audit events" ON "audit_events" TO bulkhead_owner USING ("audit_events"."created_at" < now() - make_interval(days => app.audit_retention_days())
          or ("audit_events"."tenant_id" = app.current_tenant_id() and "audit_events"."tenant_id" = app.erasing_tenant_id()));--> statement-breakpoint
ALTER POLICY "the owner role deletes expired or erased audit events" ON "audit_events" TO bulkhead_owner USING ("audit_events"."created_at" < now() - make_interval(days => app.audit_retention_days())
          or ("audit_events"."tenant_id" = app.current_tenant_id() and "audit_events"."tenant_id" = app.erasing_tenant_id()));
--> statement-breakpoint
ALTER TABLE "events" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "events" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT ON "events" TO bulkhead_app;--> statement-breakpoint
ALTER TABLE "event_sequences" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "event_sequences" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON "event_sequences" TO bulkhead_app;--> statement-breakpoint
-- app.prune_expired gains the events' retention (db/sql/functions/ creates the new one).
DROP FUNCTION IF EXISTS app.prune_expired(integer, integer, integer);
