/**
 * Addresses as 32-bit words, for the ban cache's tables: parsing a canonical
 * address this way is cheaper than any object, and words hash and compare
 * without allocating.
 */

/** dotted quad → unsigned 32-bit number; -1 when malformed */
export function v4Number(ip: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || part > 255) return -1;
  return n * 256 + part;
}

export type V6Words = [number, number, number, number];

/** canonical IPv6 text → four 32-bit words; null for forms we do not expect (dotted tails) */
export function v6Words(ip: string): V6Words | null {
  if (ip.includes('.')) return null;
  const gap = ip.indexOf('::');
  const head = gap === -1 ? ip.split(':') : gap === 0 ? [] : ip.slice(0, gap).split(':');
  const tail = gap === -1 || gap + 2 === ip.length ? [] : ip.slice(gap + 2).split(':');
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (gap === -1 && fill !== 0)) return null;
  const g: number[] = [];
  for (const h of head) g.push(parseInt(h, 16));
  for (let i = 0; i < fill; i++) g.push(0);
  for (const t of tail) g.push(parseInt(t, 16));
  for (const x of g) if (!(x >= 0 && x <= 0xffff)) return null;
  return [g[0]! * 65536 + g[1]!, g[2]! * 65536 + g[3]!, g[4]! * 65536 + g[5]!, g[6]! * 65536 + g[7]!];
}
