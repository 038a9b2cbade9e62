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
  // one pass over the characters: groups before "::" from the front, after it from the back
  const head: number[] = [];
  const tail: number[] = [];
  let into = head;
  let group = 0;
  let digits = 0;
  const n = ip.length;
  for (let i = 0; i < n; i++) {
    const c = ip.charCodeAt(i);
    let v: number;
    if (c >= 48 && c <= 57) v = c - 48;
    else if (c >= 97 && c <= 102) v = c - 87;
    else if (c >= 65 && c <= 70) v = c - 55;
    else if (c === 58) {
      if (i + 1 < n && ip.charCodeAt(i + 1) === 58) {
        // "::" once, ending the head
        if (into === tail) return null;
        if (digits > 0) into.push(group);
        into = tail;
        i++;
      } else {
        // a single ":" ends a group and starts another
        if (digits === 0 || i + 1 === n) return null;
        into.push(group);
      }
      group = 0;
      digits = 0;
      continue;
    } else return null;
    if (++digits > 4) return null;
    group = group * 16 + v;
  }
  if (digits > 0) into.push(group);
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (into === head && fill !== 0)) return null;
  const g = fill === 0 && into === head ? head : [...head, ...new Array<number>(fill).fill(0), ...tail];
  return [g[0]! * 65536 + g[1]!, g[2]! * 65536 + g[3]!, g[4]! * 65536 + g[5]!, g[6]! * 65536 + g[7]!];
}
