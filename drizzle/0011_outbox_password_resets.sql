CREATE TABLE "outbox" (
	"tenant_id" uuid NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"kind" text NOT NULL,
	"payload" jsonb NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"claim_id" uuid,
	"claimed_until" timestamp (3) with time zone,
	"last_error" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"settled_at" timestamp (3) with time zone,
	CONSTRAINT "outbox_pkey" PRIMARY KEY("tenant_id","id"),
	CONSTRAINT "outbox_status_valid" CHECK ("outbox"."status" in ('pending', 'sent', 'dead'))
);
--> statement-breakpoint
ALTER TABLE "outbox" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "password_resets" (
	"tenant_id" uuid NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	"used_at" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "password_resets_pkey" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "password_resets" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "outbox" ADD CONSTRAINT "outbox_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "password_resets" ADD CONSTRAINT "password_resets_user_fkey" FOREIGN KEY ("tenant_id","user_id") REFERENCES "public"."users"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "outbox_pending_idx" ON "outbox" USING btree ("next_attempt_at") WHERE "outbox"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "outbox_tenant_created_idx" ON "outbox" USING btree ("tenant_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE UNIQUE INDEX "password_resets_tenant_token_hash_key" ON "password_resets" USING btree ("tenant_id","token_hash");--> statement-breakpoint
CREATE INDEX "password_resets_tenant_user_idx" ON "password_resets" USING btree ("tenant_id","user_id");--> statement-breakpoint
CREATE POLICY "outbox are seen and written only within their tenant" ON "outbox" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("outbox"."tenant_id" = app.current_tenant_id()) WITH CHECK ("outbox"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "the owner role reads the outbox of every tenant, to dispatch it" ON "outbox" AS PERMISSIVE FOR SELECT TO "bulkhead_owner" USING (true);--> statement-breakpoint
CREATE POLICY "the owner role claims and settles outbox messages" ON "outbox" AS PERMISSIVE FOR UPDATE TO "bulkhead_owner" USING (true) WITH CHECK (true);--> statement-breakpoint
CREATE POLICY "the owner role deletes settled outbox messages" ON "outbox" AS PERMISSIVE FOR DELETE TO "bulkhead_owner" USING ("outbox"."status" <> 'pending');--> statement-breakpoint
CREATE POLICY "password_resets are seen and written only within their tenant" ON "password_resets" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("password_resets"."tenant_id" = app.current_tenant_id()) WITH CHECK ("password_resets"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "the owner role sees expired password resets, to prune them" ON "password_resets" AS PERMISSIVE FOR SELECT TO "bulkhead_owner" USING ("password_resets"."expires_at" < now());--> statement-breakpoint
CREATE POLICY "the owner role deletes expired password resets" ON "password_resets" AS PERMISSIVE FOR DELETE TO "bulkhead_owner" USING ("password_resets"."expires_at" < now());--> statement-breakpoint
-- What drizzle-kit does not emit (docs/adding-a-resource.md, step 2): the owner role owns the
-- tables, RLS binds it too, and the runtime role gets only the commands the flows use. The
-- dispatcher reaches the outbox through app.outbox_claim and app.outbox_settle.
ALTER TABLE "outbox" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "outbox" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT INSERT ON "outbox" TO bulkhead_app;--> statement-breakpoint
ALTER TABLE "password_resets" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "password_resets" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON "password_resets" TO bulkhead_app;
