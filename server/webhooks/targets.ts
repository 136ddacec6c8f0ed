/**
 * Where a webhook may point: a URL a workspace admin types must not make the server call its own
 * network (SSRF: the cloud's metadata service, the database, an admin port on localhost). A
 * target is refused when its host is, or resolves to, a loopback, private, link-local, carrier
 * or otherwise non-public address; checked when the URL is saved (for what can be known then)
 * and at every connection (the name is resolved once, checked, and that address is the one
 * connected to, so a DNS answer that changes between check and use gains nothing).
 * `WEBHOOK_ALLOW_PRIVATE` turns it off for development and tests.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { Agent } from "undici";
import { ipVersion, isPrivateAddress } from "./addresses.js";

export class TargetRefused extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "TargetRefused";
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** Resolves like dns.lookup, then refuses a name with any private address among its answers. */
function guardedLookup(hostname: string, options: { all?: boolean }, callback: LookupCallback): void {
  dnsLookup(hostname, { all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const refused = addresses.find((entry) => isPrivateAddress(entry.address));
    if (refused || addresses.length === 0) {
      return callback(new TargetRefused(`${hostname} resolves to a private or loopback address`), []);
    }
    if (options.all) return callback(null, addresses);
    const [first] = addresses;
    return callback(null, first?.address ?? "", first?.family);
  });
}

/**
 * The HTTP agent deliveries go through: with private targets refused, every connection resolves
 * its host through `guardedLookup` (an IP literal is checked by `assertTarget`, since a socket
 * given an address looks nothing up).
 */
export function deliveryAgent(allowPrivate: boolean): Agent {
  return new Agent({
    connections: 8,
    connect: allowPrivate ? {} : { lookup: guardedLookup as never },
  });
}

/** Refuses a delivery URL whose host is a private IP literal (names are checked at connect). */
export function assertTarget(url: URL, allowPrivate: boolean): void {
  if (allowPrivate) return;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost" || (ipVersion(host) !== 0 && isPrivateAddress(host))) {
    throw new TargetRefused(`${host} is a private or loopback address`);
  }
}
