import { FirewallError } from './backends/firewall.js';
import { CommandNotFoundError } from './exec.js';

/**
 * What a failed firewall change deserves:
 *   transient  the firewall, not the change (a lock held, a command missing
 *              for a moment): retried as is, however long it takes
 *   permanent  the same input will fail again: parked at once
 *   unknown    retried a bounded number of times, then parked
 */
export type FailureKind = 'transient' | 'permanent' | 'unknown';

export function failureKind(err: unknown): FailureKind {
  if (err instanceof FirewallError) return err.transient ? 'transient' : 'permanent';
  if (err instanceof CommandNotFoundError) return 'transient';
  return 'unknown';
}

export const isTransient = (err: unknown): boolean => failureKind(err) === 'transient';

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
