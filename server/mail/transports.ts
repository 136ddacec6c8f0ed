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

/** Development: each message as an .eml file, and one line in the log saying where it went. */
export function fileTransport(dir: string, from: string, logger: Logger): MailTransport {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    async send(mail) {
      const info = await transport.sendMail(message(from, mail));
      await mkdir(dir, { recursive: true });
      const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}-${mail.id}.eml`);
      await writeFile(file, info.message as Buffer);
      logger.info(`mail to ${mail.to}: ${mail.subject}${mail.link ? `, ${mail.link}` : ""}`, { file });
    },
    close: () => transport.close(),
  };
}
