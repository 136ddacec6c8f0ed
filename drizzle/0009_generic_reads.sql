-- The four hand-written reads of 0006 give way to one generic read, app.read, and the context
-- statement of members' transactions, app.enter_member, both defined (like every function now)
-- in db/sql/functions/ and applied after these migrations (db/functions.ts).
DROP FUNCTION app.read_projects_page(uuid, uuid, integer, uuid, text, integer, timestamptz, uuid);--> statement-breakpoint
DROP FUNCTION app.read_project(uuid, uuid, integer, uuid, text, uuid);--> statement-breakpoint
DROP FUNCTION app.read_tasks_page(uuid, uuid, integer, uuid, text, uuid, text, integer, timestamptz, uuid);--> statement-breakpoint
DROP FUNCTION app.read_task(uuid, uuid, integer, uuid, text, uuid);--> statement-breakpoint
DROP FUNCTION app.enter_read(uuid, uuid, integer, uuid, text);
