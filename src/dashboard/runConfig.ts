// The config values the dashboard's run picker filters by and groups by: each run's resolved config (run.json)
// flattened to dotted keys, and of those the keys whose values differ between the runs listed (a key all runs share
// tells nothing), always with algorithm and seed. No `vscode` import.
import type { ConfigValue } from '../shared/runGroups';

/** {a: {b: 1}, c: [1, 2]} -> {"a.b": 1, "c": "[1,2]"}: lists and nested values past `depth` as compact JSON. */
export function flattenConfig(config: Record<string, unknown>, prefix = '', depth = 4, out: Record<string, ConfigValue> = {}): Record<string, ConfigValue> {
  for (const [k, v] of Object.entries(config)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth > 0) flattenConfig(v as Record<string, unknown>, key, depth - 1, out);
    else if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[key] = v;
    else out[key] = JSON.stringify(v);
  }
  return out;
}

/** Per run, its values of the keys that differ between the runs (and algorithm, seed). */
export function varyingConfig(configs: ReadonlyMap<string, Record<string, ConfigValue>>): Map<string, Record<string, ConfigValue>> {
  const keys = new Set<string>();
  for (const c of configs.values()) for (const k of Object.keys(c)) keys.add(k);
  const all = [...configs.values()];
  const varying = [...keys].filter((k) => k === 'algorithm' || k === 'seed' || new Set(all.map((c) => JSON.stringify(c[k] ?? null))).size > 1);
  const out = new Map<string, Record<string, ConfigValue>>();
  for (const [id, c] of configs) out.set(id, Object.fromEntries(varying.filter((k) => k in c).map((k) => [k, c[k]])));
  return out;
}
