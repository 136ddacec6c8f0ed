/**
 * Where mail goes: SMTP through nodemailer (SMTP_URL), or, in development, a file mailbox
 * (MAIL_DIR/*.eml and one log line per message) so that `npm start` needs nothing. Node only;
 * a Worker writes to the outbox and a Node process dispatches it (docs/operations.md).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import nodemailer from "nodemailer";
import type { Logger } from "../deps.js";
import type { Mail } from "./outbox.js";

export interface OutgoingMail extends Mail {
  /** The outbox row's id: the Message-ID, so a receiver can tell a redelivery. */
  id: string;
}

export interface MailTransport {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

const message = (from: string, mail: OutgoingMail) => ({
  from,
  to: mail.to,
  subject: mail.subject,
  text: mail.text,
  html: mail.html,
  messageId: `<${mail.id}@bulkhead.outbox>`,
});

/** SMTP over a few pooled connections, with timeouts so a hung server cannot outlast a claim's lease. */
export function smtpTransport(url: string, from: string): MailTransport {
  const transport = nodemailer.createTransport({
    url,
    pool: true,
    maxConnections: 3,
    connectionTimeout: 20_000,
    greetingTimeout: 20_000,
    socketTimeout: 30_000,
  });
  return {
    async send(mail) {
      await transport.sendMail(message(from, mail));
    },
    close: () => transport.close(),
  };
}

/**
 * Development: each message as an .eml file only its owner can read (mode 0600, in a 0700
 * folder: a message holds a live reset or verification link), and one line in the log saying
 * where it went. The line shows the link only when `logLinks` (NODE_ENV=development and
 * MAIL_LOG_LINKS not false): a log is read by more people than a mailbox.
 */
export function fileTransport(
  dir: string,
  from: string,
  logger: Logger,
  options: { logLinks: boolean },
): MailTransport {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    async send(mail) {
      const info = await transport.sendMail(message(from, mail));
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}-${mail.id}.eml`);
      await writeFile(file, info.message as Buffer, { mode: 0o600 });
      const link = options.logLinks && mail.link ? `, ${mail.link}` : "";
      logger.info(`mail to ${mail.to}: ${mail.subject}${link}`, { file });
    },
    close: () => transport.close(),
  };
}

/** Whether the file mailbox's log line may show links: in development, unless MAIL_LOG_LINKS=false. */
export const mailLinksLogged = (env: { NODE_ENV: string; MAIL_LOG_LINKS: boolean }) =>
  env.NODE_ENV === "development" && env.MAIL_LOG_LINKS;
