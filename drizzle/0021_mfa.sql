CREATE TABLE "mfa_challenges" (
	"tenant_id" uuid NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	"used_at" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "mfa_challenges_pkey" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "mfa_challenges" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "passkeys" (
	"tenant_id" uuid NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"credential_id" text NOT NULL,
	"public_key" text NOT NULL,
	"counter" bigint DEFAULT 0 NOT NULL,
	"transports" text[] DEFAULT '{}'::text[] NOT NULL,
	"name" text NOT NULL,
	"backed_up" boolean DEFAULT false NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp (3) with time zone,
	CONSTRAINT "passkeys_pkey" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "passkeys" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "recovery_codes" (
	"tenant_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"code_hash" text NOT NULL,
	"used_at" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "recovery_codes_pkey" PRIMARY KEY("tenant_id","user_id","code_hash")
);
--> statement-breakpoint
ALTER TABLE "recovery_codes" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "totp_factors" (
	"tenant_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"secret_encrypted" text NOT NULL,
	"confirmed_at" timestamp (3) with time zone,
	"last_step" bigint,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "totp_factors_pkey" PRIMARY KEY("tenant_id","user_id"),
	CONSTRAINT "totp_factors_secret_encrypted" CHECK ("totp_factors"."secret_encrypted" ~ '^v1\.')
);
--> statement-breakpoint
ALTER TABLE "totp_factors" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD COLUMN "second_factor_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "require_mfa" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "mfa_challenges" ADD CONSTRAINT "mfa_challenges_user_fkey" FOREIGN KEY ("tenant_id","user_id") REFERENCES "public"."users"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "passkeys" ADD CONSTRAINT "passkeys_user_fkey" FOREIGN KEY ("tenant_id","user_id") REFERENCES "public"."users"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "recovery_codes" ADD CONSTRAINT "recovery_codes_user_fkey" FOREIGN KEY ("tenant_id","user_id") REFERENCES "public"."users"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "totp_factors" ADD CONSTRAINT "totp_factors_user_fkey" FOREIGN KEY ("tenant_id","user_id") REFERENCES "public"."users"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "mfa_challenges_tenant_token_hash_key" ON "mfa_challenges" USING btree ("tenant_id","token_hash");--> statement-breakpoint
CREATE INDEX "mfa_challenges_tenant_user_idx" ON "mfa_challenges" USING btree ("tenant_id","user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "passkeys_tenant_credential_key" ON "passkeys" USING btree ("tenant_id","credential_id");--> statement-breakpoint
CREATE INDEX "passkeys_tenant_user_idx" ON "passkeys" USING btree ("tenant_id","user_id");--> statement-breakpoint
CREATE POLICY "mfa_challenges are seen and written only within their tenant" ON "mfa_challenges" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("mfa_challenges"."tenant_id" = app.current_tenant_id()) WITH CHECK ("mfa_challenges"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "the owner role sees expired mfa challenges, to prune them" ON "mfa_challenges" AS PERMISSIVE FOR SELECT TO "bulkhead_owner" USING ("mfa_challenges"."expires_at" < now());--> statement-breakpoint
CREATE POLICY "the owner role deletes expired mfa challenges" ON "mfa_challenges" AS PERMISSIVE FOR DELETE TO "bulkhead_owner" USING ("mfa_challenges"."expires_at" < now());--> statement-breakpoint
CREATE POLICY "passkeys are seen and written only within their tenant" ON "passkeys" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("passkeys"."tenant_id" = app.current_tenant_id()) WITH CHECK ("passkeys"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "recovery_codes are seen and written only within their tenant" ON "recovery_codes" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("recovery_codes"."tenant_id" = app.current_tenant_id()) WITH CHECK ("recovery_codes"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
CREATE POLICY "totp_factors are seen and written only within their tenant" ON "totp_factors" AS PERMISSIVE FOR ALL TO "bulkhead_app" USING ("totp_factors"."tenant_id" = app.current_tenant_id()) WITH CHECK ("totp_factors"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
ALTER TABLE "mfa_challenges" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "mfa_challenges" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON "mfa_challenges" TO bulkhead_app;--> statement-breakpoint
ALTER TABLE "totp_factors" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "totp_factors" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "totp_factors" TO bulkhead_app;--> statement-breakpoint
ALTER TABLE "recovery_codes" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "recovery_codes" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "recovery_codes" TO bulkhead_app;--> statement-breakpoint
ALTER TABLE "passkeys" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "passkeys" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "passkeys" TO bulkhead_app;--> statement-breakpoint
-- The workspace's second-factor policy reaches the member path: app.enter_member takes whether
-- the procedure may run for a member it holds at enrollment. It is re-created after the
-- migrations (db/sql/functions); the old signature goes first.
DROP FUNCTION IF EXISTS app.enter_member(uuid, uuid, integer, uuid, text, boolean, boolean, text);
