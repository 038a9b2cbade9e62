import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

// The .lua files sit in <package>/lua, one level above both src/ and dist/.
const lua = (name: string) => readFileSync(new URL(`../lua/${name}.lua`, import.meta.url), 'utf8');

const SCRIPTS = {
  pcRecordFailure: { numberOfKeys: 6, lua: lua('recordFailure') },
  pcBan: { numberOfKeys: 5, lua: lua('ban') },
  // variable number of keys: numkeys is passed first
  pcUnban: { lua: lua('unban') },
  pcBanMany: { lua: lua('banMany') },
  pcReserve: { numberOfKeys: 3, lua: lua('reserve') },
} as const;

type Arg = string | number;
/** The scripts as typed methods of a client they were defined on. */
export interface ScriptCommands {
  pcRecordFailure(...args: Arg[]): Promise<[number, number, string, number]>;
  pcBan(...args: Arg[]): Promise<[string, number]>;
  pcUnban(numkeys: number, ...args: Arg[]): Promise<number>;
  pcBanMany(numkeys: number, ...args: Arg[]): Promise<[string, ...number[]]>;
  pcReserve(...args: Arg[]): Promise<[number, number, string]>;
}

const defined = new WeakSet<Redis>();

/**
 * Defines the scripts on a client once (ioredis sends EVALSHA and falls back
 * to EVAL on NOSCRIPT, so a restarted Redis reloads them by itself).
 */
export function withScripts(redis: Redis): Redis & ScriptCommands {
  if (!defined.has(redis)) {
    for (const [name, def] of Object.entries(SCRIPTS)) redis.defineCommand(name, def);
    defined.add(redis);
  }
  return redis as Redis & ScriptCommands;
}
