CREATE TABLE "comments" (
	"tenant_id" uuid NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"task_id" uuid NOT NULL,
	"author_id" uuid NOT NULL,
	"body" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "comments_pkey" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "comments" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "comments" ADD CONSTRAINT "comments_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "comments" ADD CONSTRAINT "comments_task_fkey" FOREIGN KEY ("tenant_id","task_id") REFERENCES "public"."tasks"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "comments_tenant_task_created_idx" ON "comments" USING btree ("tenant_id","task_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE POLICY "comments are seen and written only within their tenant" ON "comments" AS PERMISSIVE FOR ALL TO public USING ("comments"."tenant_id" = app.current_tenant_id()) WITH CHECK ("comments"."tenant_id" = app.current_tenant_id());--> statement-breakpoint
-- What drizzle-kit does not emit (docs/adding-a-resource.md, step 2): the owner role owns the
-- table, RLS binds it too, and the runtime role gets the commands the router uses.
ALTER TABLE "comments" OWNER TO bulkhead_owner;--> statement-breakpoint
ALTER TABLE "comments" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
GRANT SELECT, INSERT, DELETE ON "comments" TO bulkhead_app;
