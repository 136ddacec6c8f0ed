import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { randomSecret } from "./auth/tokens.js";
import { ConfigError, minSecretBytes, type RawConfig } from "./config.js";
import type { Logger } from "./deps.js";

/**
 * The JWT signing secret: JWT_SECRET when set. In production a missing or short one stops the
 * server; in development one is generated once and kept beside the data, with a warning.
 */
export async function resolveJwtSecret(raw: RawConfig, secretFile: string, logger: Logger): Promise<string> {
  const configured = raw.JWT_SECRET;
  if (configured !== undefined || raw.NODE_ENV === "production") {
    if (!configured || Buffer.byteLength(configured) < minSecretBytes) {
      throw new ConfigError(
        `JWT_SECRET must be set to at least ${minSecretBytes} bytes (e.g. \`openssl rand -base64 48\`)`,
      );
    }
    return configured;
  }
  try {
    const existing = (await readFile(secretFile, "utf8")).trim();
    if (Buffer.byteLength(existing) >= minSecretBytes) return existing;
  } catch {
    // Not there yet: generate it below.
  }
  const secret = randomSecret();
  await mkdir(dirname(secretFile), { recursive: true });
  await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
  logger.warn(`JWT_SECRET is not set: generated a development secret in ${secretFile}; set JWT_SECRET in production`);
  return secret;
}
