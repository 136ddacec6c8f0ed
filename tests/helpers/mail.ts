/**
 * A real SMTP server in-process (`smtp-server`), on a loopback port, keeping what it receives:
 * the tests read the messages a dispatcher delivered, as a mail client would.
 */
import { SMTPServer } from "smtp-server";
import type { Db } from "../../db/types.js";
import type { Logger } from "../../server/deps.js";
import { dispatchOnce } from "../../server/mail/dispatcher.js";
import { smtpTransport } from "../../server/mail/transports.js";

export interface ReceivedMail {
  to: string[];
  raw: string;
  subject: string;
  /** The text part, quoted-printable decoded. */
  text: string;
  messageId: string;
}

/** Quoted-printable, as nodemailer writes long lines. */
const decodeQuotedPrintable = (value: string) =>
  value
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));

/** RFC 2047 encoded words (`=?UTF-8?Q?…?=`), as nodemailer writes a non-ASCII subject. */
const decodeWords = (value: string) =>
  value.replace(/=\?UTF-8\?Q\?([^?]*)\?=\s*/gi, (_, word: string) => {
    const bytes = decodeQuotedPrintable(word.replaceAll("_", " "));
    return Buffer.from(bytes, "latin1").toString("utf8");
  });

/** A raw RFC 5322 message (as SMTP received it, or as an .eml file holds it). */
export function parseMail(raw: string, to: string[] = []): ReceivedMail {
  // Headers may fold onto following lines that start with white space.
  const unfolded = raw.split(/\r?\n\r?\n/)[0]?.replace(/\r?\n[ \t]+/g, " ") ?? "";
  const header = (name: string) => decodeWords(new RegExp(`^${name}: (.*)$`, "mi").exec(unfolded)?.[1]?.trim() ?? "");
  const textPart = /Content-Type: text\/plain[^\n]*\n(?:[^\n]+\n)*?\r?\n([\s\S]*?)\r?\n--/i.exec(raw)?.[1] ?? "";
  return {
    to,
    raw,
    subject: header("Subject"),
    text: decodeQuotedPrintable(textPart),
    messageId: header("Message-ID"),
  };
}

/** The server, and a pooled SMTP transport to it that `deliver` dispatches the outbox through. */
export async function startSmtpServer(from = "Bulkhead <no-reply@bulkhead.test>") {
  const received: ReceivedMail[] = [];
  let failures = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      let raw = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        raw += chunk;
      });
      stream.on("end", () => {
        if (failures > 0) {
          failures--;
          callback(Object.assign(new Error("mailbox unavailable"), { responseCode: 451 }));
          return;
        }
        received.push(
          parseMail(
            raw,
            session.envelope.rcptTo.map((r) => r.address),
          ),
        );
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as { port: number };
  const url = `smtp://127.0.0.1:${port}`;
  const transport = smtpTransport(url, from);
  return {
    url,
    received,
    transport,
    /** One dispatcher pass over the app's outbox, into this server. */
    deliver: (app: { db: { database: { db: Db } }; logger: Logger }, maxAttempts = 3) =>
      dispatchOnce({ db: app.db.database.db, transport, logger: app.logger, leaseSeconds: 60, maxAttempts }),
    /** The next `n` messages are refused with a temporary error. */
    failNext(n: number) {
      failures = n;
    },
    close: () => {
      transport.close();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The token of the first link in a mail's text. */
export function linkToken(mail: ReceivedMail): string {
  const match = /token=([^\s&]+)/.exec(mail.text);
  if (!match?.[1]) throw new Error(`no link with a token in:\n${mail.text}`);
  return decodeURIComponent(match[1]);
}
