/**
 * What mail shows of the names people write: anyone can register a workspace with a stranger's
 * email as its owner, so the names in that mail (the owner's, the workspace's) are cut to
 * `mailNameLength` characters, in the subject and the body.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { outbox } from "../../db/schema.js";
import { mailNameLength, shown, workspaceDeletionMail } from "../../server/mail/messages.js";
import type { Mail } from "../../server/mail/outbox.js";
import { createTestApp, password, type TestApp } from "../helpers/app.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const pitch = "URGENT: your account is locked. Call +1 555 0100 and read out the code we sent you. ".repeat(2);

describe("names in mail", () => {
  it("are cut to 60 characters with an ellipsis, whitespace folded", () => {
    expect(mailNameLength).toBe(60);
    expect(shown("Acme")).toBe("Acme");
    expect(shown("  Acme \n Corp ")).toBe("Acme Corp");
    const cut = shown(pitch);
    expect([...cut]).toHaveLength(60);
    expect(cut.endsWith("…")).toBe(true);
    // Counted in characters, never splitting a surrogate pair.
    expect(shown("🦀".repeat(100))).toBe(`${"🦀".repeat(59)}…`);
  });

  it("a registration naming a stranger's email sends them the verification mail with short names only", async () => {
    const slug = `stranger-${Date.now().toString(36)}`;
    await t.client().auth.registerTenant.mutate({
      tenant: { name: pitch.slice(0, 200), slug },
      owner: { email: `victim@${slug}.test`, password, name: pitch.slice(0, 200) },
    });
    const rows = await t.db.admin.select({ payload: outbox.payload }).from(outbox);
    const mail = rows.map((row) => row.payload as Mail).find((m) => m.to === `victim@${slug}.test`);
    if (!mail) throw new Error("no mail to the stranger");
    for (const part of [mail.subject, mail.text, mail.html]) expect(part).not.toContain(pitch.slice(0, 61));
    expect(mail.text).toContain(shown(pitch));
  });

  it("cut a workspace's name in a subject", () => {
    const mail = workspaceDeletionMail(t.config.mail, { email: "o@x.test", name: "Owner" }, pitch, {
      dueAt: new Date(),
      by: pitch,
    });
    expect(mail.subject).toBe(`${shown(pitch)} is scheduled for deletion — ${t.config.mail.appName}`);
  });
});
