/** Timed waits that stop() cuts short: a daemon loop sleeping between retries must not hold up shutdown. */
export class Sleeper {
  private readonly wakers = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  /** ends every sleep now */
  wakeAll(): void {
    for (const wake of this.wakers) wake();
  }
}
