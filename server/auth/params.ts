/** OWASP's floor for argon2id: 19 MiB, 2 iterations, 1 lane. Shared by every hasher. */
export const argon2Params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export type Argon2Params = typeof argon2Params;
