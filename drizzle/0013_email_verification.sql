CREATE TABLE "verifications" (
	"tenant_id" uuid NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	"used_at" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "verifications_pkey" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "verifications" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "require_verified_email" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "email_verified_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "verifications" ADD CONSTRAINT "verifications_user_fkey" FOREIGN KEY ("tenant_id","user_id") REFERENCES "public"."users"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "verifications_tenant_token_hash_key" ON "verifications" USING btree ("tenant_id","token_hash");--> statement-breakpoint
CREATE INDEX "verifications_tenant_user_idx" ON "verifications" USING btree ("tenant_id","user_id");--> statement-breakpoint
CREATE POLICY "verifications are seen and written only within their tenant" ON "verifications" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("verifications"."tenant_id" = app.current_tenant_id()) WITH CHECK ("verifications"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "the owner role sees expired email verifications, to prune them" ON "verifications" AS PERMISSIVE FOR SELECT TO "bulkhead_owner" USING ("verifications"."expires_at" < now());--> statement-breakpoint
CREATE POLICY "the owner role deletes expired email verifications" ON "verifications" AS PERMISSIVE FOR DELETE TO "bulkhead_owner" USING ("verifications"."expires_at" < now());--> statement-breakpoint
-- What drizzle-kit does not emit: the owner role owns the table, RLS binds it too, and the
-- runtime role gets the commands the flows use.
ALTER TABLE "verifications" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "verifications" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON "verifications" TO bulkhead_app;--> statement-breakpoint
-- app.enter_member gains p_verified_only (db/sql/functions/enter_member.sql, applied after the
-- migrations); the six-argument version goes, or a six-argument call would be ambiguous.
DROP FUNCTION IF EXISTS app.enter_member(uuid, uuid, integer, uuid, text, boolean);
