import { readdirSync, readFileSync } from 'node:fs';
import type { RedisClient } from './redis.js';

// The .lua files sit in <package>/lua, one level above both src/ and dist/.
const LUA_DIR = new URL('../lua/', import.meta.url);

/** `--- @include "includes/name"` pulls lua/includes/name.lua in, once per script. */
const INCLUDE = /^--- @include "([\w/]+)"\s*$/gm;
/** `name-<keys>.lua`: a fixed number of keys; `name-n.lua`: numkeys is passed first at each call */
const SCRIPT_FILE = /^(\w+)-(\d+|n)\.lua$/;

export interface ScriptDefinition {
  lua: string;
  /** undefined: variable, passed as the first argument */
  numberOfKeys?: number;
}

/** The script's source with its includes expanded in place (each one once, nested ones first). */
export function expandIncludes(source: string, dir: URL = LUA_DIR, seen = new Set<string>()): string {
  return source.replace(INCLUDE, (_line, name: string) => {
    if (seen.has(name)) return '';
    seen.add(name);
    return expandIncludes(readFileSync(new URL(`${name}.lua`, dir), 'utf8'), dir, seen);
  });
}

/** Every script of a lua/ directory, by command name (`recordFailure-9.lua` → pcRecordFailure). */
export function loadScripts(dir: URL = LUA_DIR): Record<string, ScriptDefinition> {
  const scripts: Record<string, ScriptDefinition> = {};
  for (const file of readdirSync(dir).sort()) {
    const m = SCRIPT_FILE.exec(file);
    if (!m) continue;
    const [, name, keys] = m as unknown as [string, string, string];
    const lua = expandIncludes(readFileSync(new URL(file, dir), 'utf8'), dir);
    scripts[`pc${name[0]!.toUpperCase()}${name.slice(1)}`] = keys === 'n' ? { lua } : { lua, numberOfKeys: Number(keys) };
  }
  return scripts;
}

const SCRIPTS = loadScripts();

type Arg = string | number;
/** The scripts as typed methods of a client they were defined on. */
export interface ScriptCommands {
  pcRecordFailure(...args: Arg[]): Promise<[number, number, string, number]>;
  pcBan(...args: Arg[]): Promise<[string, number]>;
  pcUnban(numkeys: number, ...args: Arg[]): Promise<number>;
  /** until, bans of each address in turn */
  pcBanMany(numkeys: number, ...args: Arg[]): Promise<Array<string | number>>;
  pcReserve(...args: Arg[]): Promise<[number, number, string]>;
}

const defined = new WeakSet<RedisClient>();

/**
 * Defines the scripts on a client once (ioredis sends EVALSHA and falls back
 * to EVAL on NOSCRIPT, so a restarted Redis reloads them by itself).
 */
export function withScripts<C extends RedisClient>(redis: C): C & ScriptCommands {
  if (!defined.has(redis)) {
    for (const [name, def] of Object.entries(SCRIPTS)) redis.defineCommand(name, def);
    defined.add(redis);
  }
  return redis as C & ScriptCommands;
}
