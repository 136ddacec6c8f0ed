/**
 * A dispatcher in a process of its own, for the two-process outbox test: drains the outbox of
 * the database at argv[2] to the SMTP server at argv[3] through the jobs' path (`dispatchOnce`,
 * batches of 7) until a pass finds nothing twice in a row, then prints what it sent as JSON.
 */
import { connectPostgres } from "../../db/postgres.js";
import { dispatchOnce } from "../../server/mail/dispatcher.js";
import { smtpTransport } from "../../server/mail/transports.js";

const [url, smtpUrl] = process.argv.slice(2);
if (!url || !smtpUrl) throw new Error("usage: dispatch-child <database url> <smtp url>");
const database = connectPostgres({ url, poolMax: 2 });
const transport = smtpTransport(smtpUrl, "Bulkhead <no-reply@bulkhead.test>");
const silent = { info() {}, warn() {}, error() {} };
let sent = 0;
let idle = 0;
for (let pass = 0; pass < 200 && idle < 2; pass++) {
  const result = await dispatchOnce({
    db: database.db,
    transport,
    logger: silent,
    batch: 7,
    leaseSeconds: 60,
    maxAttempts: 3,
  });
  sent += result.sent;
  idle = result.sent + result.retried + result.dead === 0 ? idle + 1 : 0;
}
transport.close();
await database.close();
console.log(JSON.stringify({ sent }));
