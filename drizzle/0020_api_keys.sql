CREATE TABLE "api_key_usage" (
	"tenant_id" uuid NOT NULL,
	"key_id" uuid NOT NULL,
	"window_start" timestamp (3) with time zone NOT NULL,
	"used" integer NOT NULL,
	CONSTRAINT "api_key_usage_pkey" PRIMARY KEY("tenant_id","key_id")
);
--> statement-breakpoint
ALTER TABLE "api_key_usage" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "api_keys" (
	"tenant_id" uuid NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"prefix" text NOT NULL,
	"secret_hash" text NOT NULL,
	"role" text NOT NULL,
	"read_only" boolean DEFAULT false NOT NULL,
	"created_by" uuid NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp (3) with time zone,
	"expires_at" timestamp (3) with time zone,
	"revoked_at" timestamp (3) with time zone,
	"revoked_by" uuid,
	CONSTRAINT "api_keys_pkey" PRIMARY KEY("tenant_id","id"),
	CONSTRAINT "api_keys_role_valid" CHECK ("api_keys"."role" in ('admin', 'member')),
	CONSTRAINT "api_keys_secret_hash_format" CHECK ("api_keys"."secret_hash" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
ALTER TABLE "api_keys" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "audit_events" ADD COLUMN "actor_type" text DEFAULT 'user' NOT NULL;--> statement-breakpoint
ALTER TABLE "api_key_usage" ADD CONSTRAINT "api_key_usage_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_key_usage" ADD CONSTRAINT "api_key_usage_key_fkey" FOREIGN KEY ("tenant_id","key_id") REFERENCES "public"."api_keys"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_keys_tenant_created_idx" ON "api_keys" USING btree ("tenant_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_actor_type_valid" CHECK ("audit_events"."actor_type" in ('user', 'api_key'));--> statement-breakpoint
CREATE POLICY "api_key_usage are seen and written only within their tenant" ON "api_key_usage" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("api_key_usage"."tenant_id" = app.current_tenant_id()) WITH CHECK ("api_key_usage"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "api_keys are seen and written only within their tenant" ON "api_keys" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("api_keys"."tenant_id" = app.current_tenant_id()) WITH CHECK ("api_keys"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
ALTER TABLE "api_keys" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "api_keys" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON "api_keys" TO bulkhead_app;--> statement-breakpoint
ALTER TABLE "api_key_usage" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "api_key_usage" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON "api_key_usage" TO bulkhead_app;--> statement-breakpoint
-- A key's hash reaches the member path: app.enter_member and app.read take it as a last
-- argument. The functions are re-created after the migrations (db/sql/functions); the old
-- signatures go first.
DROP FUNCTION IF EXISTS app.read(uuid, uuid, integer, uuid, text, text, text, text[]);--> statement-breakpoint
DROP FUNCTION IF EXISTS app.enter_member(uuid, uuid, integer, uuid, text, boolean, boolean);
