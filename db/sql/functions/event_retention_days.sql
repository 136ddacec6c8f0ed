-- The event retention the transaction prunes with (app.prune_expired sets it), or NULL. The
-- owner role's event policies read it through this function, like app.audit_retention_days.
CREATE OR REPLACE FUNCTION app.event_retention_days()
  RETURNS integer
  LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
 SELECT (NULLIF(current_setting('app.event_retention_days'::text, true), ''::text))::integer AS event_retention_days;
END;
