-- Issue 31: webhook endpoints and their deliveries (docs/decisions/024-events-beside-the-audit-row.md).
CREATE TABLE "webhook_deliveries" (
	"tenant_id" uuid NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"webhook_id" uuid NOT NULL,
	"event_id" bigint NOT NULL,
	"payload" jsonb NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"claim_id" uuid,
	"claimed_until" timestamp (3) with time zone,
	"last_status" integer,
	"last_error" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"settled_at" timestamp (3) with time zone,
	CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY("tenant_id","id"),
	CONSTRAINT "webhook_deliveries_status_valid" CHECK ("webhook_deliveries"."status" in ('pending', 'sent', 'dead'))
);
--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "webhooks" (
	"tenant_id" uuid NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"url" text NOT NULL,
	"event_types" text[] NOT NULL,
	"secret" text NOT NULL,
	"previous_secret" text,
	"previous_secret_until" timestamp (3) with time zone,
	"enabled" boolean DEFAULT true NOT NULL,
	"consecutive_dead" integer DEFAULT 0 NOT NULL,
	"disabled_at" timestamp (3) with time zone,
	"created_by" uuid,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "webhooks_pkey" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "webhooks" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_webhook_fkey" FOREIGN KEY ("tenant_id","webhook_id") REFERENCES "public"."webhooks"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_event_fkey" FOREIGN KEY ("tenant_id","event_id") REFERENCES "public"."events"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhooks" ADD CONSTRAINT "webhooks_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "webhook_deliveries_pending_idx" ON "webhook_deliveries" USING btree ("next_attempt_at") WHERE "webhook_deliveries"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "webhook_deliveries_webhook_idx" ON "webhook_deliveries" USING btree ("tenant_id","webhook_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "webhook_deliveries_event_idx" ON "webhook_deliveries" USING btree ("tenant_id","event_id");--> statement-breakpoint
CREATE POLICY "deliveries are seen and written only within their tenant" ON "webhook_deliveries" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("webhook_deliveries"."tenant_id" = app.current_tenant_id()) WITH CHECK ("webhook_deliveries"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "the owner role reads webhook deliveries, to send them" ON "webhook_deliveries" AS PERMISSIVE FOR SELECT TO "bulkhead_owner" USING (true);--> statement-breakpoint
CREATE POLICY "the owner role claims and settles webhook deliveries" ON "webhook_deliveries" AS PERMISSIVE FOR UPDATE TO "bulkhead_owner" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "webhooks are seen and written only within their tenant" ON "webhooks" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("webhooks"."tenant_id" = app.current_tenant_id()) WITH CHECK ("webhooks"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "the owner role reads webhooks, to deliver them" ON "webhooks" AS PERMISSIVE FOR SELECT TO "bulkhead_owner" USING (true);--> statement-breakpoint
CREATE POLICY "the owner role counts dead deliveries of webhooks" ON "webhooks" AS PERMISSIVE FOR UPDATE TO "bulkhead_owner" USING (true) WITH CHECK (true);--> statement-breakpoint
ALTER TABLE "webhooks" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "webhooks" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "webhooks" TO bulkhead_app;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON "webhook_deliveries" TO bulkhead_app;
