/**
 * When each ban ends: one binary min-heap for all bans and ONE timer armed for
 * the soonest, instead of a setTimeout per ban (100k bans stay cheap). Updating
 * an address pushes a new entry; stale entries are skipped lazily when popped.
 */
export class ExpiryHeap {
  private readonly heap: Array<{ at: number; ip: string }> = [];
  private readonly due = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;
  private stopped = false;

  /**
   * @param onDue called with the addresses whose time has come (they are
   *   already removed from the heap)
   */
  constructor(
    private readonly onDue: (ips: string[]) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.due.size;
  }

  /** the until (ms) of an address, if tracked */
  get(ip: string): number | undefined {
    return this.due.get(ip);
  }

  /** track (or move) an address; until -1 = forever (untracked) */
  set(ip: string, until: number): void {
    if (until === -1) {
      this.delete(ip);
      return;
    }
    if (this.due.get(ip) === until) return;
    this.due.set(ip, until);
    this.push({ at: until, ip });
    this.arm();
  }

  delete(ip: string): void {
    this.due.delete(ip);
  }

  clear(): void {
    this.due.clear();
    this.heap.length = 0;
  }

  /** pops every address due at `now` */
  takeDue(now = this.now()): string[] {
    const out: string[] = [];
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const top = this.pop()!;
      if (this.due.get(top.ip) === top.at) {
        this.due.delete(top.ip);
        out.push(top.ip);
      }
    }
    // stale entries pile up when bans are extended: rebuild when mostly garbage
    if (this.heap.length > 1024 && this.heap.length > 4 * this.due.size) this.rebuild();
    return out;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.stopped) return;
    const next = this.heap[0]?.at ?? Infinity;
    if (next === Infinity) return;
    if (this.timer && next >= this.armedFor) return;
    if (this.timer) clearTimeout(this.timer);
    // setTimeout overflows past 2^31-1 ms: re-arm at most every minute
    const delay = Math.max(0, Math.min(next - this.now(), 60_000));
    this.armedFor = next;
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Infinity;
    const ips = this.takeDue();
    if (ips.length > 0) this.onDue(ips);
    this.arm();
  }

  private rebuild(): void {
    const live = [...this.due].map(([ip, at]) => ({ at, ip }));
    this.heap.length = 0;
    for (const e of live) this.push(e);
  }

  private push(e: { at: number; ip: string }): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= h[i]!.at) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private pop(): { at: number; ip: string } | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.at < h[m]!.at) m = l;
        if (r < h.length && h[r]!.at < h[m]!.at) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}
