/** what `check` gave once it held: any value but false, 0, '', null and undefined */
export type Held<T> = Exclude<Awaited<T>, false | 0 | '' | null | undefined>;

/**
 * Polls `check` until it returns a truthy value (or a promise of one) and
 * returns that value; a check that throws counts as "not yet". After
 * `timeoutMs` it fails naming what it waited for and the last error. Tests
 * wait for a condition, never for a fixed time: give a timeout below the
 * test's own, so the failure says what did not happen.
 */
export async function waitFor<T>(what: string, check: () => T, timeoutMs = 15_000, everyMs = 50): Promise<Held<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as Held<T>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
