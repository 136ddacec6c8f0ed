/**
 * `promise`, or a rejection with `late()` once `ms` have passed without it settling. The timer is
 * cleared either way; `promise` itself is not cancelled (what it waits on may finish later).
 */
export async function within<T>(promise: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
