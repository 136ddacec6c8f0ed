/**
 * The development mailbox: each message is a file only its owner can read, and the log line
 * that says where it went carries the message's link (a live token) only in development, unless
 * MAIL_LOG_LINKS=false.
 */
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../server/config.js";
import { fileTransport, mailLinksLogged } from "../../server/mail/transports.js";
import { RecordingLogger } from "../helpers/app.js";

const root = await mkdtemp(join(tmpdir(), "bulkhead-mailbox-"));
afterAll(() => rm(root, { recursive: true, force: true }));

const token = "bhpr_0b6a1f7e-4a49-4a39-9d8e-5b1d6c1e2f30_c2VjcmV0LXRva2VuLWJ5dGVz";
const mail = {
  id: "3f1d2c4b-5a69-4788-9abc-def012345678",
  to: "alice@example.com",
  subject: "Reset your password",
  text: `Open http://localhost:5173/reset#${token}`,
  html: `<a href="http://localhost:5173/reset#${token}">Reset</a>`,
  link: `http://localhost:5173/reset#${token}`,
};

async function deliver(logLinks: boolean) {
  const dir = join(root, `mail-${logLinks}`);
  const logger = new RecordingLogger();
  const transport = fileTransport(dir, "Bulkhead <no-reply@localhost>", logger, { logLinks });
  await transport.send(mail);
  transport.close();
  const [file] = await readdir(dir);
  return { dir, file: join(dir, file ?? ""), line: JSON.stringify(logger.entries) };
}

describe("the development mailbox", () => {
  it("writes each message readable by its owner only, in a folder only its owner can open", async () => {
    const { dir, file } = await deliver(false);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it("logs where a message went, and its link only when asked to", async () => {
    const hidden = await deliver(false);
    expect(hidden.line).toContain("mail to alice@example.com: Reset your password");
    expect(hidden.line).not.toContain(token);
    expect((await deliver(true)).line).toContain(token);
  });

  it("shows links in development by default, never in test or production, and not when MAIL_LOG_LINKS=false", () => {
    const logs = (env: Record<string, string>) => mailLinksLogged(parseConfig({ JWT_SECRET: "x".repeat(32), ...env }));
    expect(logs({ NODE_ENV: "development" })).toBe(true);
    expect(logs({ NODE_ENV: "development", MAIL_LOG_LINKS: "false" })).toBe(false);
    expect(logs({ NODE_ENV: "test" })).toBe(false);
    expect(logs({ NODE_ENV: "production", MAIL_LOG_LINKS: "true" })).toBe(false);
  });
});
