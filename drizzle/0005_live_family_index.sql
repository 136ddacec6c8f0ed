-- The session check in app.set_context (every request) and revokeFamily look only for live rows
-- of a family. The old (tenant_id, family_id) index made a revoked family cost a heap visit per
-- row — a family gains a row at every refresh — to find none live; this one holds live rows
-- only, so every answer is one probe.
DROP INDEX "refresh_tokens_tenant_family_idx";--> statement-breakpoint
CREATE INDEX "refresh_tokens_tenant_live_family_idx" ON "refresh_tokens" USING btree ("tenant_id","family_id") WHERE "refresh_tokens"."revoked_at" is null;