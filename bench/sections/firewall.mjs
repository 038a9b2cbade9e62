// Figure 4 — firewall: ban event → rule live (ufw, nftables), mass bans.
// Built as a standalone script by another engineer (bench/firewall.mjs; needs
// root and network namespaces). This section only plugs it in:
//
//   bench/firewall.mjs exports  async function run(ctx) → { rows, details?, notes?, raw? }
//   (or a default export with run), where rows use the keys 4a … 4e of
//   lib/results.mjs SKELETON: { key, figure: '4', what, value, aim, verdict }.
//   It may return { skipped: 'reason' } (not root, no nft, …): RESULTS.md then
//   keeps "measured by bench/firewall section" for figure 4, and never a number.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const id = 'firewall';
export const title = 'Figure 4 — firewall (bench/firewall section)';

const SCRIPT = fileURLToPath(new URL('../firewall.mjs', import.meta.url));

export async function run(ctx) {
  if (!existsSync(SCRIPT)) return { skipped: 'bench/firewall.mjs is not there yet; figure 4 stays "measured by bench/firewall section"' };
  const mod = await import(pathToFileURL(SCRIPT).href);
  const fn = mod.run ?? mod.default?.run ?? (typeof mod.default === 'function' ? mod.default : null);
  if (!fn) return { skipped: 'bench/firewall.mjs exports no run(ctx)' };
  return fn(ctx);
}
