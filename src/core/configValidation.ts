// Config validation before anything is spawned (no vscode). Two checks, both naming the key at fault:
//   1. the trainer's JSON Schema (trainer/trapo/schemas/config.schema.json) with ajv, in process, fast;
//   2. the trainer itself: `python -m trapo validate-config FILE` prints ok, or exits 2 with one line
//      "config error: <key>: <problem>; fix: <fix>" (cross-field rules the schema cannot say, files that must exist).
// Keys are written the way the trainer writes them: dotted, list indices in brackets (micro_group.stages[1].ratio).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import Ajv2020 from 'ajv/dist/2020';
import * as yaml from 'js-yaml';

export interface ConfigProblem {
  /** Dotted key path ("" for the whole file). */
  key: string;
  message: string;
}

export type ConfigCheck = { ok: true; config: Record<string, unknown> } | { ok: false; problems: ConfigProblem[] };

/** Parses YAML or JSON by file extension (YAML is a superset of JSON, so anything else is read as YAML). */
export function parseConfigText(text: string, fileName: string): ConfigCheck {
  let data: unknown;
  const name = path.basename(fileName);
  try {
    data = /\.json$/i.test(fileName) ? JSON.parse(text) : yaml.load(text, { filename: name });
  } catch (err) {
    const msg = err instanceof yaml.YAMLException ? err.message.split('\n')[0] : (err as Error).message;
    return { ok: false, problems: [{ key: '', message: `${name} does not parse: ${msg}` }] };
  }
  if (data === undefined || data === null) data = {}; // an empty file: every default
  if (typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, problems: [{ key: '', message: `${name}: expected key: value lines at the top level` }] };
  }
  return { ok: true, config: data as Record<string, unknown> };
}

/** Compiles the trainer's schema (draft-07 or 2020-12, by its `$schema`). */
export function compileConfigSchema(schema: Record<string, unknown>): ValidateFunction {
  const draft2020 = typeof schema.$schema === 'string' && schema.$schema.includes('2020-12');
  const ajv = draft2020 ? new Ajv2020({ allErrors: true, strict: false, verbose: true }) : new Ajv({ allErrors: true, strict: false, verbose: true });
  return ajv.compile(schema);
}

export async function loadConfigSchema(schemaFile: string): Promise<ValidateFunction> {
  let schema: Record<string, unknown>;
  try {
    schema = JSON.parse(await fs.readFile(schemaFile, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the trainer's config schema ${schemaFile}: ${(err as Error).message}`);
  }
  return compileConfigSchema(schema);
}

export function validateConfigObject(config: Record<string, unknown>, validate: ValidateFunction): ConfigProblem[] {
  if (validate(config)) return [];
  return dedupeProblems((validate.errors ?? []).map(describeError));
}

/** Reads, parses and schema-checks one config file. */
export async function validateConfigFile(file: string, validate: ValidateFunction): Promise<ConfigCheck> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    return { ok: false, problems: [{ key: '', message: `cannot read ${file}: ${(err as Error).message}` }] };
  }
  const parsed = parseConfigText(text, file);
  if (!parsed.ok) return parsed;
  const problems = validateConfigObject(parsed.config, validate);
  return problems.length ? { ok: false, problems } : parsed;
}

/** "/micro_group/stages/1/ratio" -> "micro_group.stages[1].ratio". */
export function pointerToKey(pointer: string): string {
  let key = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    key += /^[0-9]+$/.test(part) ? `[${part}]` : key === '' ? part : `.${part}`;
  }
  return key;
}

function join(key: string, child: string): string {
  return key === '' ? child : `${key}.${child}`;
}

function describeError(e: ErrorObject): ConfigProblem {
  const key = pointerToKey(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const unknown = String(p.additionalProperty);
      const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const near = closest(unknown, allowed);
      const hint = near ? `did you mean "${near}"?` : allowed.length ? `known keys: ${allowed.join(', ')}` : '';
      return { key: join(key, unknown), message: `unknown key${hint ? `; ${hint}` : ''}` };
    }
    case 'required':
      return { key: join(key, String(p.missingProperty)), message: 'is required' };
    case 'enum':
      return { key, message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'type':
      return { key, message: `must be ${String(p.type).replace(/,/g, ' or ')}` };
    default:
      return { key, message: e.message ?? e.keyword };
  }
}

/** One problem per key and message (anyOf/oneOf branches repeat themselves). */
function dedupeProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.key}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The allowed key nearest to a misspelt one (Levenshtein distance at most 2, or a third of its length). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

// ----------------------------------------------------------------------------------------------- the trainer's check

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the process could not be started (ENOENT, EACCES). */
  spawnError?: string;
}

export type ProcessRunner = (command: string, args: string[], cwd: string) => Promise<ProcessResult>;

/** `python -m trapo validate-config FILE`: no problems when ok, else the trainer's one line (it names the key). */
export async function validateWithTrainer(python: string, file: string, cwd: string, run: ProcessRunner): Promise<ConfigProblem[]> {
  const r = await run(python, ['-m', 'trapo', 'validate-config', file], cwd);
  if (r.spawnError) return [{ key: '', message: `could not run ${python}: ${r.spawnError}` }];
  if (r.code === 0) return [];
  const text = `${r.stderr}\n${r.stdout}`;
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (r.code === 2) {
    const line = lines.find((l) => l.startsWith('config error:')) ?? lines.at(-1) ?? 'invalid config';
    return [parseTrainerConfigError(line)];
  }
  return [{ key: '', message: `the trainer could not check the config (exit ${r.code}): ${lines.at(-1) ?? 'no output'}` }];
}

/** "config error: optim.lr: -1 is out of range; fix: use a value >= 0" -> {key: "optim.lr", message: "..."}. */
export function parseTrainerConfigError(line: string): ConfigProblem {
  const m = /^config error:\s*([^:\s]+):\s*(.*)$/.exec(line.trim());
  if (!m) return { key: '', message: line.trim() };
  const key = m[1] === '<root>' ? '' : m[1];
  return { key, message: m[2] };
}

export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => (p.key ? `${p.key}: ${p.message}` : p.message)).join('\n');
}
