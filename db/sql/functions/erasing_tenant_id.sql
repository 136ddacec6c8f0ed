-- The workspace the transaction is erasing (app.erase_tenant_batch sets it), or NULL; for the
-- owner role's audit policies, like app.audit_retention_days().
CREATE OR REPLACE FUNCTION app.erasing_tenant_id()
  RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
 SELECT (NULLIF(current_setting('app.erasing'::text, true), ''::text))::uuid AS erasing_tenant_id;
END;
