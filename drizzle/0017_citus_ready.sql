-- Issue 30: what kept Bulkhead off a Citus cluster, changed on every engine.
-- A task's assignee: NO ACTION instead of SET NULL (assignee_id), which Citus refuses when the
-- key includes the distribution column; members.remove unassigns the member's tasks first.
ALTER TABLE "tasks" DROP CONSTRAINT "tasks_assignee_fkey";--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_assignee_fkey" FOREIGN KEY ("tenant_id","assignee_id") REFERENCES "public"."users"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
-- Registration writes as the runtime role only (docs/decisions/023-registration-as-one-role.md):
-- it inserts the tenant row in that tenant's own context, under "tenants are seen and written
-- only by themselves"; the owner role no longer inserts tenants.
DROP POLICY "the owner role creates a tenant in its own context" ON "tenants" CASCADE;--> statement-breakpoint
GRANT INSERT ON "tenants" TO bulkhead_app;--> statement-breakpoint
-- The quota trigger names its quota as an argument: on Citus, TG_TABLE_NAME is the shard's name.
DROP TRIGGER projects_count_inserts ON "projects";--> statement-breakpoint
DROP TRIGGER projects_count_deletes ON "projects";--> statement-breakpoint
DROP TRIGGER tasks_count_inserts ON "tasks";--> statement-breakpoint
DROP TRIGGER tasks_count_deletes ON "tasks";--> statement-breakpoint
DROP TRIGGER comments_count_inserts ON "comments";--> statement-breakpoint
DROP TRIGGER comments_count_deletes ON "comments";--> statement-breakpoint
DROP TRIGGER users_count_inserts ON "users";--> statement-breakpoint
DROP TRIGGER users_count_deletes ON "users";--> statement-breakpoint
DROP TRIGGER invitations_count_inserts ON "invitations";--> statement-breakpoint
CREATE TRIGGER projects_count_inserts AFTER INSERT ON "projects" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('projects');--> statement-breakpoint
CREATE TRIGGER projects_count_deletes AFTER DELETE ON "projects" REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('projects');--> statement-breakpoint
CREATE TRIGGER tasks_count_inserts AFTER INSERT ON "tasks" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('tasks_per_project');--> statement-breakpoint
CREATE TRIGGER tasks_count_deletes AFTER DELETE ON "tasks" REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('tasks_per_project');--> statement-breakpoint
CREATE TRIGGER comments_count_inserts AFTER INSERT ON "comments" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('comments_per_task');--> statement-breakpoint
CREATE TRIGGER comments_count_deletes AFTER DELETE ON "comments" REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('comments_per_task');--> statement-breakpoint
CREATE TRIGGER users_count_inserts AFTER INSERT ON "users" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('members');--> statement-breakpoint
CREATE TRIGGER users_count_deletes AFTER DELETE ON "users" REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('members');--> statement-breakpoint
CREATE TRIGGER invitations_count_inserts AFTER INSERT ON "invitations" REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION app.count_usage('pending_invitations');
