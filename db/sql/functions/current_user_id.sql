-- The user the current transaction acts for, or NULL (see current_tenant_id: a body bound when
-- it is created, inlined by the planner).
CREATE OR REPLACE FUNCTION app.current_user_id()
  RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
 SELECT (NULLIF(current_setting('app.user_id'::text, true), ''::text))::uuid AS current_user_id;
END;
