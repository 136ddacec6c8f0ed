/** The only reader of `process.env`. */
import { parseConfig, type RawConfig } from "./config.js";

export function loadEnv(): RawConfig {
  return parseConfig(process.env);
}
