/**
 * Where a webhook may point: a URL a workspace admin types must not make the server call its own
 * network (SSRF: the cloud's metadata service, the database, an admin port on localhost). A
 * target is refused when its host is, or resolves to, a loopback, private, link-local, carrier
 * or otherwise non-public address; checked when the URL is saved (for what can be known then)
 * and at every connection (the name is resolved once, checked, and that address is the one
 * connected to, so a DNS answer that changes between check and use gains nothing).
 * `WEBHOOK_ALLOW_PRIVATE_TARGETS` turns it off for development and tests.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";
import { Agent } from "undici";

const blocked = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  blocked.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["::ffff:0:0", 96],
  ["64:ff9b::", 96],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const) {
  blocked.addSubnet(network, prefix, "ipv6");
}

/** Whether an IP address is one a webhook may not reach (an IPv4-mapped one as its IPv4). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return blocked.check(mapped, "ipv4");
  const family = isIP(address);
  if (family === 0) return true;
  return blocked.check(address, family === 4 ? "ipv4" : "ipv6");
}

export class TargetRefused extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "TargetRefused";
  }
}

/**
 * Why a webhook URL cannot be saved, or null: https only (http too where private targets are
 * allowed), no credentials in it, and no host that is plainly private (an IP literal, localhost).
 */
export function urlProblem(value: string, allowPrivate: boolean): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "not a URL";
  }
  if (url.protocol !== "https:" && !(allowPrivate && url.protocol === "http:")) return "must be an https URL";
  if (url.username || url.password) return "must not carry credentials";
  if (allowPrivate) return null;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost" || host.endsWith(".localhost")) return "must not point at this server's own network";
  if (isIP(host) !== 0 && isPrivateAddress(host)) return "must not point at a private or loopback address";
  return null;
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
  if (host === "localhost" || (isIP(host) !== 0 && isPrivateAddress(host))) {
    throw new TargetRefused(`${host} is a private or loopback address`);
  }
}
