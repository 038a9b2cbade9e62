/** Polls `cond` until it holds; throws naming `what` after `ms`. Tests wait for conditions, never for a time. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
