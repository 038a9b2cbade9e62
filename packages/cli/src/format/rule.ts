import { PRESETS, type JailConfig, type RuleFields } from '@portcullis/core';

const list = (v: string | readonly string[] | undefined) => (v === undefined ? [] : typeof v === 'string' ? [v] : [...v]);

/**
 * A jail's rule in one short line, e.g. "POST /auth/login/ → 401": the
 * preset's fields with the jail's own on top, as resolveJail combines them.
 */
export function describeRule(jail: JailConfig): string {
  const rule: RuleFields = { ...(jail.preset ? (PRESETS[jail.preset as keyof typeof PRESETS] as RuleFields) : {}) };
  for (const key of ['methods', 'path', 'pathPrefix', 'pathRegex', 'statuses', 'responseHeader', 'exclude'] as const) {
    if (jail[key] !== undefined) (rule as Record<string, unknown>)[key] = jail[key];
  }
  const where = [...list(rule.path), ...list(rule.pathPrefix).map((p) => `${p}*`), ...(rule.pathRegex ? [`~${rule.pathRegex}`] : [])];
  if (!rule.statuses && where.length === 0) return 'X-Portcullis-Failure header only';
  const parts = [
    rule.methods ? rule.methods.join('|') : 'any',
    where.length > 0 ? where.join(' ') : 'any path',
    '→',
    rule.statuses ? rule.statuses.join('|') : 'any status',
  ];
  if (rule.responseHeader) parts.push(`+${rule.responseHeader}`);
  if (rule.exclude && rule.exclude.length > 0) parts.push(`(except ${rule.exclude.join(' ')})`);
  return parts.join(' ');
}
