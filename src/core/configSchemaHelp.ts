// Completion, hover and diagnostics for TRAPO config files from the trainer's JSON Schema
// (trainer/trapo/schemas/config.schema.json: draft-07, every key with a description and a default). No vscode
// import: src/config/ turns these into VS Code's completion items, hovers and diagnostics.
import type { ValidateFunction } from 'ajv';
import { CompletionContext, ConfigDocument, KeyPath, Span, completionContext, formatKeyPath } from './configDocument';
import { validateConfigObject } from './configValidation';

/** The parts of a JSON Schema the trainer's config schema uses. */
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  markdownDescription?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  pattern?: string;
}

export type Flavor = 'yaml' | 'json';

/** The schema of the value at `path`, following properties, list items and anyOf/oneOf branches. */
export function schemaAt(root: JsonSchema, path: KeyPath): JsonSchema | undefined {
  let s: JsonSchema | undefined = root;
  for (const k of path) {
    if (!s) return undefined;
    s = typeof k === 'number' ? branch(s, (b) => b.items) : branch(s, (b) => b.properties?.[k] ?? schemaOf(b.additionalProperties));
  }
  return s;
}

function schemaOf(x: boolean | JsonSchema | undefined): JsonSchema | undefined {
  return typeof x === 'object' ? x : undefined;
}

/** `pick` on the schema itself, else on the first anyOf/oneOf branch that has it. */
function branch(s: JsonSchema, pick: (s: JsonSchema) => JsonSchema | undefined): JsonSchema | undefined {
  const direct = pick(s);
  if (direct) return direct;
  for (const b of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) {
    const r = pick(b);
    if (r) return r;
  }
  return undefined;
}

function types(s: JsonSchema): string[] {
  const t = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  const fromBranches = [...(s.anyOf ?? []), ...(s.oneOf ?? [])].flatMap(types);
  const fromEnum = s.enum ? [...new Set(s.enum.map((v) => (v === null ? 'null' : typeof v)))] : [];
  return [...new Set([...t, ...fromBranches, ...fromEnum])];
}

function properties(s: JsonSchema): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = { ...(s.properties ?? {}) };
  for (const b of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) Object.assign(out, b.properties ?? {});
  return out;
}

const isObjectSchema = (s: JsonSchema) => types(s).includes('object') || s.properties !== undefined;

/** The values completion offers for a schema: its enum, booleans, null when allowed. */
export function valueChoices(s: JsonSchema): unknown[] {
  if (s.enum) return s.enum;
  if (s.const !== undefined) return [s.const];
  const t = types(s);
  const out: unknown[] = [];
  if (t.includes('boolean')) out.push(true, false);
  if (t.includes('null')) out.push(null);
  return out;
}

// ----------------------------------------------------------------------------------------------- help text

function typeText(s: JsonSchema): string {
  const t = types(s);
  if (t.includes('array') && s.items) return `list of ${typeText(s.items) || 'values'}`;
  return t.map((x) => (x === 'integer' ? 'integer' : x === 'object' ? 'mapping' : x)).join(' or ');
}

function rangeText(s: JsonSchema): string {
  const lo = s.minimum !== undefined ? `>= ${s.minimum}` : s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : '';
  const hi = s.maximum !== undefined ? `<= ${s.maximum}` : s.exclusiveMaximum !== undefined ? `< ${s.exclusiveMaximum}` : '';
  return [lo, hi].filter(Boolean).join(', ');
}

export function formatValue(v: unknown): string {
  return v === undefined ? '' : JSON.stringify(v);
}

/** One line: type, range, default ("number, >= 0, <= 1 · default 0.1"). */
export function schemaSummary(s: JsonSchema): string {
  const parts = [typeText(s), rangeText(s)].filter(Boolean).join(', ');
  const dflt = s.default !== undefined && !isObjectSchema(s) ? `default ${shortValue(s.default)}` : '';
  return [parts, dflt].filter(Boolean).join(' · ');
}

function shortValue(v: unknown): string {
  const text = formatValue(v);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** Markdown help for the key at `path`: its dotted name, description, type, range, allowed values and default. */
export function hoverMarkdown(root: JsonSchema, path: KeyPath): string | undefined {
  const s = schemaAt(root, path);
  if (!s) return undefined;
  const name = formatKeyPath(path);
  const lines = [`\`${(name || 'config').replace(/`/g, "'")}\``];
  const text = s.markdownDescription ?? (s.description !== undefined ? escapeMd(s.description) : undefined);
  if (text) lines.push('', text);
  const facts: string[] = [];
  const t = typeText(s);
  if (t) facts.push(`Type: ${t}${rangeText(s) ? ` (${rangeText(s)})` : ''}`);
  if (s.enum) facts.push(`One of: ${s.enum.map((v) => `\`${formatValue(v)}\``).join(', ')}`);
  if (s.pattern) facts.push(`Pattern: \`${s.pattern}\``);
  if (s.default !== undefined && !isObjectSchema(s)) facts.push(`Default: \`${formatValue(s.default)}\``);
  if (facts.length) lines.push('', facts.join('  \n'));
  return lines.join('\n');
}

function escapeMd(s: string): string {
  return s.replace(/([\\`*_{}[\]<>#|])/g, '\\$1');
}

// ----------------------------------------------------------------------------------------------- completion

export interface ConfigCompletion {
  label: string;
  kind: 'key' | 'value';
  /** Type and default, shown beside the label. */
  detail: string;
  /** Markdown. */
  documentation: string;
  /** A VS Code snippet (tab stops `$1`, `$0`; choices `${1|a,b|}`). */
  snippet: string;
  /** The text replaced. */
  replace: Span;
  /** Sorts the schema's own order (keys) or the enum's order (values). */
  sortText: string;
}

/** Completions at `offset` of a config text: the keys the mapping there may still take, or the values a key allows. */
export function configCompletions(root: JsonSchema, text: string, offset: number, flavor: Flavor): ConfigCompletion[] {
  const ctx = completionContext(text, offset);
  if (!ctx) return [];
  return completionsFor(root, ctx, flavor);
}

export function completionsFor(root: JsonSchema, ctx: CompletionContext, flavor: Flavor): ConfigCompletion[] {
  const s = schemaAt(root, ctx.path);
  if (!s) return [];
  if (isObjectSchema(s)) {
    // "model: |" wants a mapping on the next lines, not a key on this one.
    if (ctx.kind === 'value' && ctx.inline) return [];
    const existing = new Set(ctx.kind === 'key' ? ctx.existing : []);
    const hasColon = ctx.kind === 'key' && ctx.hasColon;
    return Object.entries(properties(s))
      .filter(([k]) => !existing.has(k))
      .map(([key, sub], i) => ({
        label: key,
        kind: 'key' as const,
        detail: schemaSummary(sub),
        documentation: hoverMarkdown(root, [...ctx.path, key]) ?? '',
        snippet: keySnippet(key, sub, flavor, ctx.quoted, hasColon),
        replace: ctx.word,
        sortText: String(i).padStart(4, '0'),
      }));
  }
  return valueChoices(s).map((v, i) => ({
    label: v === null ? 'null' : String(v),
    kind: 'value' as const,
    detail: v === s.default ? 'default' : '',
    documentation: hoverMarkdown(root, ctx.path) ?? '',
    snippet: escapeSnippet(valueText(v, flavor, ctx.quoted)),
    replace: ctx.word,
    sortText: String(i).padStart(4, '0'),
  }));
}

function valueText(v: unknown, flavor: Flavor, quoted: boolean): string {
  if (typeof v === 'string') return flavor === 'json' && !quoted ? JSON.stringify(v) : v;
  return v === null ? 'null' : String(v);
}

function keySnippet(key: string, s: JsonSchema, flavor: Flavor, quoted: boolean, hasColon: boolean): string {
  const k = escapeSnippet(key);
  if (hasColon) return k;
  if (flavor === 'json') {
    if (quoted) return k;
    const value = isObjectSchema(s) ? '{$0}' : types(s).includes('array') ? '[$0]' : types(s).includes('string') && !s.enum ? '"$0"' : '$0';
    return `"${k}": ${value}`;
  }
  if (isObjectSchema(s)) return `${k}:\n\t$0`;
  if (types(s).includes('array')) return s.items && isObjectSchema(s.items) ? `${k}:\n\t- $0` : `${k}: [$0]`;
  const choices = valueChoices(s);
  if (choices.length > 1) {
    const ordered = s.default !== undefined && choices.includes(s.default) ? [s.default, ...choices.filter((c) => c !== s.default)] : choices;
    return `${k}: \${1|${ordered.map((c) => escapeChoice(valueText(c, 'yaml', false))).join(',')}|}`;
  }
  return `${k}: $0`;
}

function escapeSnippet(s: string): string {
  return s.replace(/[$}\\]/g, '\\$&');
}

function escapeChoice(s: string): string {
  return s.replace(/[$}\\,|]/g, '\\$&');
}

// ----------------------------------------------------------------------------------------------- hover

/** Markdown help for the key or value under `offset`, and the span it covers. */
export function configHover(root: JsonSchema, text: string, offset: number): { markdown: string; span: Span } | undefined {
  const hit = new ConfigDocument(text).nodeAt(offset);
  if (!hit) return undefined;
  const markdown = hoverMarkdown(root, hit.path);
  return markdown ? { markdown, span: hit.span } : undefined;
}

// ----------------------------------------------------------------------------------------------- diagnostics

export interface ConfigDiagnostic {
  span: Span;
  message: string;
  severity: 'error' | 'warning';
  /** The dotted key at fault ("" for the file). */
  key: string;
}

/**
 * Syntax problems, else the schema's problems, each placed on the key at fault (a missing key on its parent).
 * `syntax: false` leaves syntax out (VS Code's JSON support reports it for *.json already).
 */
export function configDiagnostics(text: string, validate: ValidateFunction, opts: { syntax?: boolean } = {}): ConfigDiagnostic[] {
  const doc = new ConfigDocument(text);
  const syntax = doc.syntaxProblems();
  if (syntax.some((p) => p.severity === 'error')) {
    return opts.syntax === false ? [] : syntax.map((p) => ({ span: p.span, message: p.message, severity: p.severity, key: '' }));
  }
  let value = doc.value();
  if (value === undefined || value === null) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    return [
      {
        span: { start: 0, end: Math.min(text.length, Math.max(1, text.indexOf('\n'))) },
        message: 'expected key: value lines at the top level',
        severity: 'error',
        key: '',
      },
    ];
  }
  const warnings = opts.syntax === false ? [] : syntax.map((p) => ({ span: p.span, message: p.message, severity: p.severity, key: '' }));
  return [
    ...warnings,
    ...validateConfigObject(value as Record<string, unknown>, validate).map((p) => ({
      span: doc.spanOf(p.key).span,
      message: p.key ? `${p.key}: ${p.message}` : p.message,
      severity: 'error' as const,
      key: p.key,
    })),
  ];
}
