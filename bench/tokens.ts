import { TokenService } from "../server/auth/tokens.js";
import { parseConfig, toAppConfig } from "../server/config.js";
import { systemClock } from "../server/deps.js";

export const benchSecret = "bench-secret-bench-secret-bench-secret-0123456789";

/** Access tokens the bench server accepts, signed by the same code with the same secret. */
export async function accessTokenFor(who: { tenantId: string; userId: string; sessionId: string }): Promise<string> {
  const config = toAppConfig(parseConfig({}), benchSecret);
  const tokens = new TokenService(config.jwt, systemClock);
  return (await tokens.signAccess(who)).token;
}
