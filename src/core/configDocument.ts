// Positions in a TRAPO config file (*.trapo.yaml / *.trapo.json), from the document model of the `yaml` library
// (JSON is read by the same parser: YAML 1.2 is a superset of it). No vscode import: the editor features in
// src/config/ map these offsets and line/character positions to VS Code's types.
//
// Three questions are answered here:
//   - where is a key path ("micro_group.stages[1].ratio") written: its key's range, for diagnostics;
//   - what is under an offset: a key or a value, and its path, for hover;
//   - what is being typed at an offset: a key of which mapping, or the value of which key, for completion.
// The last one inserts a marker word at the cursor and parses again, so that the parser itself says where the
// cursor sits (in a block mapping, a flow mapping, a list item, a quoted JSON string) instead of guessing from
// indentation.
import { Document, LineCounter, Node, Pair, Scalar, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';

export type KeyPath = (string | number)[];

export interface Position {
  /** 0-based line. */
  line: number;
  /** 0-based UTF-16 column. */
  character: number;
}

export interface Span {
  start: number;
  end: number;
}

export interface SyntaxProblem {
  message: string;
  span: Span;
  severity: 'error' | 'warning';
}

/** "micro_group.stages[1].ratio" -> ["micro_group", "stages", 1, "ratio"] (the trainer's and ajv's key spelling). */
export function parseKeyPath(key: string): KeyPath {
  const out: KeyPath = [];
  for (const part of key.split('.')) {
    if (part === '') continue;
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1] !== '') out.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** ["micro_group", "stages", 1, "ratio"] -> "micro_group.stages[1].ratio". */
export function formatKeyPath(path: KeyPath): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

/** A parsed config text: its value, its syntax problems, and the ranges of its keys and values. */
export class ConfigDocument {
  readonly doc: Document.Parsed;
  private readonly lines: LineCounter;

  constructor(readonly text: string) {
    this.lines = new LineCounter();
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  /** The plain value (what the trainer would load), or undefined when the text does not parse. */
  value(): unknown {
    if (this.doc.errors.length) return undefined;
    return this.doc.toJS({ maxAliasCount: 100 });
  }

  syntaxProblems(): SyntaxProblem[] {
    const of = (e: { message: string; pos: [number, number] }, severity: SyntaxProblem['severity']): SyntaxProblem => ({
      message: e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, ''),
      span: { start: e.pos[0], end: Math.max(e.pos[1], e.pos[0] + 1) },
      severity,
    });
    return [...this.doc.errors.map((e) => of(e, 'error')), ...this.doc.warnings.map((w) => of(w, 'warning'))];
  }

  /** 0-based line and column of an offset. */
  positionAt(offset: number): Position {
    const p = this.lines.linePos(Math.max(0, Math.min(offset, this.text.length)));
    return { line: p.line - 1, character: p.col - 1 };
  }

  /** Offset of a 0-based line and column. */
  offsetAt(pos: Position): number {
    const starts = this.lines.lineStarts;
    if (pos.line >= starts.length) return this.text.length;
    return Math.min(starts[Math.max(0, pos.line)] + pos.character, this.text.length);
  }

  /**
   * The span that best shows where `path` is written: the key of its last mapping entry (a list item: the item),
   * else the nearest ancestor that is written (a missing key is reported on its parent's key), else the start of the
   * file. `exact` says whether the whole path was found.
   */
  spanOf(path: KeyPath | string): { span: Span; exact: boolean } {
    const keys = typeof path === 'string' ? parseKeyPath(path) : path;
    let node: unknown = this.doc.contents;
    let best: Span = { start: 0, end: 0 };
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(k));
        if (!pair) return { span: best, exact: false };
        best = rangeSpan((pair.key as Scalar).range) ?? best;
        node = pair.value;
      } else if (isSeq(node) && typeof k === 'number' && k < node.items.length) {
        const item = node.items[k] as Node | null;
        best = rangeSpan(item?.range) ?? best;
        node = item;
      } else {
        return { span: best, exact: false };
      }
    }
    return { span: best, exact: true };
  }

  /** The key or value under `offset` (for hover), with its path; undefined over comments, blanks and punctuation. */
  nodeAt(offset: number): { path: KeyPath; part: 'key' | 'value'; span: Span } | undefined {
    let found: { path: KeyPath; part: 'key' | 'value'; span: Span } | undefined;
    walk(this.doc.contents, [], (node, path, part) => {
      const span = rangeSpan(node.range);
      if (span && offset >= span.start && offset <= span.end && (!found || span.end - span.start <= found.span.end - found.span.start)) {
        found = { path, part, span };
      }
    });
    return found;
  }
}

/** Visits every scalar key and scalar value with its path. */
function walk(node: unknown, path: KeyPath, visit: (node: Scalar, path: KeyPath, part: 'key' | 'value') => void): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isScalar(pair.key)) continue;
      const p = [...path, String(pair.key.value)];
      visit(pair.key, p, 'key');
      if (isScalar(pair.value)) visit(pair.value, p, 'value');
      else walk(pair.value, p, visit);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      if (isScalar(item)) visit(item, [...path, i], 'value');
      else walk(item, [...path, i], visit);
    });
  }
}

function rangeSpan(range: [number, number, number] | null | undefined): Span | undefined {
  return range ? { start: range[0], end: range[1] } : undefined;
}

// ----------------------------------------------------------------------------------------------- completion context

/** Where the cursor is for completion. */
export type CompletionContext =
  | {
      kind: 'key';
      /** Path of the mapping the key goes into ([] = top level; [..., n] = a list item's mapping). */
      path: KeyPath;
      /** Keys already written in that mapping (offered no more). */
      existing: string[];
      /** The word typed so far, replaced by the completion. */
      word: Span;
      /** The word is inside quotes (JSON): insert the bare key. */
      quoted: boolean;
      /** A `:` already follows the word on its line: insert the key alone. */
      hasColon: boolean;
    }
  | {
      kind: 'value';
      /** Path of the key whose value is typed (a list item: [..., index]). */
      path: KeyPath;
      word: Span;
      quoted: boolean;
      /** The value is typed on its key's line ("dtype: |"), not on a line of its own under it. */
      inline: boolean;
    };

const MARKER = 'trapoCompletionMarker';
const WORD = /[A-Za-z0-9_.-]/;

/**
 * What is typed at `offset`: the parser is asked, on the text with a marker word inserted at the cursor, which
 * mapping's key or which key's value holds the marker.
 */
export function completionContext(text: string, offset: number): CompletionContext | undefined {
  offset = Math.max(0, Math.min(offset, text.length));
  let start = offset;
  while (start > 0 && WORD.test(text[start - 1])) start--;
  let end = offset;
  while (end < text.length && WORD.test(text[end])) end++;
  // A word that starts right after "key:" (no space yet) is a value: "dtype:au" -> "dtype: au".
  let probe: string;
  let shift = 0;
  if (start > 0 && text[start - 1] === ':' && start === offset) {
    probe = `${text.slice(0, offset)} ${MARKER}${text.slice(offset)}`;
    shift = 1;
  } else {
    probe = `${text.slice(0, offset)}${MARKER}${text.slice(offset)}`;
  }
  const doc = parseDocument(probe, { prettyErrors: false, uniqueKeys: false });
  const quoted = start > 0 && (text[start - 1] === '"' || text[start - 1] === "'");
  const lineEnd = text.indexOf('\n', offset);
  const rest = text.slice(end, lineEnd < 0 ? text.length : lineEnd);
  const hasColon = /^["']?\s*:/.test(rest);
  const word = { start: shift ? offset : start, end };
  const hit = findMarker(doc.contents, []);
  if (!hit) return undefined;
  // A key of a mapping; or a bare word at the top, or a list item ("  - n|"): a new mapping's first key or a value
  // of the list (the schema of the path decides, as it does for a value typed under a key that wants a mapping).
  if (hit.part === 'value') {
    const before = text.slice(text.lastIndexOf('\n', word.start - 1) + 1, word.start);
    return { kind: 'value', path: hit.path, word, quoted, inline: /:\s*["']?$/.test(before) };
  }
  return { kind: 'key', path: hit.path, existing: hit.siblings, word, quoted, hasColon };
}

interface MarkerHit {
  part: 'key' | 'value' | 'item' | 'top';
  path: KeyPath;
  siblings: string[];
}

function hasMarker(node: unknown): boolean {
  return isScalar(node) && typeof node.value === 'string' && node.value.includes(MARKER);
}

function findMarker(node: unknown, path: KeyPath): MarkerHit | undefined {
  if (hasMarker(node)) return { part: 'top', path, siblings: [] };
  if (isMap(node)) {
    const keys = (node.items as Pair[]).filter((p) => isScalar(p.key) && !hasMarker(p.key)).map((p) => String((p.key as Scalar).value));
    for (const pair of node.items as Pair[]) {
      if (hasMarker(pair.key)) return { part: 'key', path, siblings: keys };
      if (!isScalar(pair.key)) continue;
      const p = [...path, String(pair.key.value)];
      if (hasMarker(pair.value)) return { part: 'value', path: p, siblings: [] };
      const inner = findMarker(pair.value, p);
      if (inner) return inner;
    }
  } else if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) {
      const item = node.items[i];
      if (hasMarker(item)) return { part: 'item', path: [...path, i], siblings: [] };
      if (isPair(item)) continue;
      const inner = findMarker(item, [...path, i]);
      if (inner) return inner;
    }
  }
  return undefined;
}
