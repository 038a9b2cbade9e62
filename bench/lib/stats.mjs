/** Small statistics helpers: every figure is reported as median with its spread. */

export function sorted(xs) {
  return [...xs].sort((a, b) => a - b);
}

/** Linear-interpolated quantile, q in [0, 1]. */
export function quantile(xs, q) {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export const median = (xs) => quantile(xs, 0.5);

export function summary(xs) {
  const s = sorted(xs);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    min: s[0],
    max: s[s.length - 1],
    q1: quantile(s, 0.25),
    q3: quantile(s, 0.75),
    values: xs,
  };
}

/** "1.23 (min 1.10 – max 1.40, n=5)" */
export function fmtSpread(sum, digits = 2, unit = '') {
  const f = (v) => fmt(v, digits) + unit;
  return `${f(sum.median)} (min ${f(sum.min)} – max ${f(sum.max)}, n=${sum.n})`;
}

export function fmt(v, digits = 2) {
  if (v === undefined || v === null || Number.isNaN(v)) return 'n/a';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(digits);
}

export function fmtInt(v) {
  return Math.round(v).toLocaleString('en-US');
}
