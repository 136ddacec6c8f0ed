/**
 * Writing to the transactional outbox: in the transaction of the change that causes the message,
 * under RLS in its tenant, so a rolled-back request sends nothing and a committed one is never
 * lost. `dispatcher.ts` delivers what is written here.
 */
import { outbox } from "../../db/schema.js";
import type { Tx } from "../../db/types.js";

/** A mail as the outbox keeps it until it is sent (then only `to` and `subject` remain). */
export interface Mail {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The action link, for the development mailbox's one-line log; erased with the bodies. */
  link?: string;
}

export async function enqueueMail(tx: Tx, tenantId: string, mail: Mail): Promise<void> {
  await tx.insert(outbox).values({ tenantId, kind: "mail", payload: mail });
}
