/**
 * Which addresses a webhook may not reach, and which URLs may not be saved: plain code, with no
 * Node module, so the router that checks a URL runs in Workers too. server/webhooks/targets.ts
 * applies the same rule at every connection.
 */

/** IPv4 networks no webhook may reach: this host, private, carrier NAT, link-local (cloud metadata), documentation, multicast, reserved. */
const blockedV4: [string, number][] = [
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
];

/** IPv6 networks likewise: unspecified, loopback, IPv4-mapped and NAT64 (checked as IPv4), discard, documentation, unique local, link-local, multicast. */
const blockedV6: [string, number][] = [
  ["::", 128],
  ["::1", 128],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
];

function parseV4(text: string): number | null {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!match) return null;
  const octets = match.slice(1).map(Number);
  if (octets.some((octet) => octet > 255)) return null;
  return octets.reduce((value, octet) => value * 256 + octet, 0);
}

function parseV6(text: string): bigint | null {
  let address = text.toLowerCase();
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const tail = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address)?.[1];
  if (tail) {
    const v4 = parseV4(tail);
    if (v4 === null) return null;
    address = `${address.slice(0, -tail.length)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  if (groups.length !== 8 || groups.some((group) => !/^[0-9a-f]{1,4}$/.test(group))) return null;
  return groups.reduce((value, group) => (value << 16n) + BigInt(Number.parseInt(group, 16)), 0n);
}

const inV4 = (value: number, [network, prefix]: [string, number]) => {
  const base = parseV4(network) ?? 0;
  const size = 2 ** (32 - prefix);
  return Math.floor(value / size) === Math.floor(base / size);
};

const inV6 = (value: bigint, [network, prefix]: [string, number]) => {
  const shift = BigInt(128 - prefix);
  return value >> shift === (parseV6(network) ?? 0n) >> shift;
};

/** 4 or 6 for an IP literal, 0 for anything else (a name). */
export function ipVersion(text: string): 0 | 4 | 6 {
  if (parseV4(text) !== null) return 4;
  return text.includes(":") && parseV6(text) !== null ? 6 : 0;
}

/** Whether an IP address is one a webhook may not reach; anything that is not an address counts as one. */
export function isPrivateAddress(address: string): boolean {
  const v4 = parseV4(address);
  if (v4 !== null) return blockedV4.some((network) => inV4(v4, network));
  const v6 = parseV6(address);
  if (v6 === null) return true;
  // IPv4-mapped (::ffff:0:0/96) and NAT64 (64:ff9b::/96) carry an IPv4 address: judged as one.
  const high = v6 >> 32n;
  if (high === 0xffffn || high === 0x64ff9b0000000000000000n) {
    return blockedV4.some((network) => inV4(Number(v6 & 0xffffffffn), network));
  }
  return blockedV6.some((network) => inV6(v6, network));
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
  const host = url.hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return "must not point at this server's own network";
  if (ipVersion(host) !== 0 && isPrivateAddress(host)) return "must not point at a private or loopback address";
  return null;
}
