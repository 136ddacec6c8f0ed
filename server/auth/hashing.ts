/**
 * Bounds on argon2 work, the most expensive thing a request can buy: a throttle counts failures,
 * but a valid invitation or a right password costs a hash as well
 * (docs/decisions/021-password-hashing-is-bounded.md).
 * - per process, at most `concurrency` hashes run at once, first come first served, and at most
 *   `maxWaiting` wait: a burst queues instead of taking every core from the requests around it;
 * - per HTTP request, at most `perRequest` hashing calls: a batch of 20 buys 2, not 20.
 */
import type { PasswordHasher } from "../deps.js";

/** `hasher` with every call made through `run`. */
const through = (hasher: PasswordHasher, run: <T>(work: () => Promise<T>) => Promise<T>): PasswordHasher => ({
  hash: (password) => run(() => hasher.hash(password)),
  verify: (stored, password) => run(() => hasher.verify(stored, password)),
});

/** The queue of hashes waiting is full: the caller answers "busy, retry shortly". */
export class HashingBusy extends Error {
  constructor() {
    super("too many password hashes are waiting");
    this.name = "HashingBusy";
  }
}

/** At most `concurrency` hashing calls at once; the rest wait in order, `maxWaiting` at most. */
export function limitHashing(
  hasher: PasswordHasher,
  limits: { concurrency: number; maxWaiting: number },
): PasswordHasher & { readonly running: number; readonly waiting: number } {
  let running = 0;
  const waiting: (() => void)[] = [];
  const run = async <T>(work: () => Promise<T>): Promise<T> => {
    if (running >= limits.concurrency) {
      if (waiting.length >= limits.maxWaiting) throw new HashingBusy();
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running++;
    }
    try {
      return await work();
    } finally {
      // The slot passes straight to the next in line, so `running` never drops below it.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
  return {
    ...through(hasher, run),
    get running() {
      return running;
    },
    get waiting() {
      return waiting.length;
    },
  };
}

/**
 * One request's hasher: its first `perRequest` calls go through, the rest throw `refusals.spent()`;
 * a call the process's queue turns away throws `refusals.busy()`.
 */
export function budgetHashing(
  hasher: PasswordHasher,
  perRequest: number,
  refusals: { spent: () => Error; busy: () => Error },
): PasswordHasher {
  let spent = 0;
  const run = async <T>(work: () => Promise<T>): Promise<T> => {
    if (spent >= perRequest) throw refusals.spent();
    spent++;
    try {
      return await work();
    } catch (error) {
      throw error instanceof HashingBusy ? refusals.busy() : error;
    }
  };
  return through(hasher, run);
}
