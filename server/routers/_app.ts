import { router } from "../trpc.js";
import { apiKeysRouter } from "./api-keys.js";
import { auditRouter } from "./audit.js";
import { authRouter } from "./auth.js";
import { commentsRouter } from "./comments.js";
import { eventsRouter } from "./events.js";
import { healthProcedure } from "./health.js";
import { membersRouter } from "./members.js";
import { projectsRouter } from "./projects.js";
import { tasksRouter } from "./tasks.js";
import { tenantRouter } from "./tenant.js";
import { webhooksRouter } from "./webhooks.js";

export const appRouter = router({
  health: healthProcedure,
  auth: authRouter,
  tenant: tenantRouter,
  members: membersRouter,
  projects: projectsRouter,
  tasks: tasksRouter,
  comments: commentsRouter,
  audit: auditRouter,
  events: eventsRouter,
  webhooks: webhooksRouter,
  apiKeys: apiKeysRouter,
});

export type AppRouter = typeof appRouter;
