// Positions in config files from the `yaml` document model (src/core/configDocument.ts): key paths to ranges for
// diagnostics, the node under the cursor for hover, and what is being typed for completion, in nested mappings,
// block and flow lists, and JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigDocument, completionContext, formatKeyPath, parseKeyPath } from '../../src/core/configDocument';

const YAML = `name: demo
model:
  name_or_path: tiny
  warmup:
    target_accuracy: 0.4
micro_group:
  stages:
    - {n: 4, ratio: 0.0, threshold: null}
    - n: 2
      ratio: 0.25
      threshold: 2
  threshold_kind: count
data:
  benchmarks: [builtin, ops1]
`;

/** 0-based line of the start of a span. */
const lineOf = (doc: ConfigDocument, key: string) => doc.positionAt(doc.spanOf(key).span.start).line;
/** Offset of the `n`-th occurrence of `needle` (plus `delta`). */
function at(text: string, needle: string, delta = 0, n = 0): number {
  let i = -1;
  for (let k = 0; k <= n; k++) i = text.indexOf(needle, i + 1);
  assert.ok(i >= 0, `"${needle}" in the text`);
  return i + delta;
}

test('key paths: dotted with list indices, both ways', () => {
  assert.deepEqual(parseKeyPath('micro_group.stages[1].ratio'), ['micro_group', 'stages', 1, 'ratio']);
  assert.deepEqual(parseKeyPath('a[0][2].b'), ['a', 0, 2, 'b']);
  assert.deepEqual(parseKeyPath(''), []);
  assert.equal(formatKeyPath(['micro_group', 'stages', 1, 'ratio']), 'micro_group.stages[1].ratio');
});

test("spanOf: nested keys and block-list items point at the key's own line and column", () => {
  const doc = new ConfigDocument(YAML);
  assert.equal(lineOf(doc, 'name'), 0);
  assert.equal(lineOf(doc, 'model.warmup.target_accuracy'), 4);
  assert.equal(lineOf(doc, 'micro_group.stages[1].ratio'), 9);
  assert.equal(lineOf(doc, 'micro_group.stages[1].threshold'), 10);
  assert.equal(lineOf(doc, 'micro_group.threshold_kind'), 11);
  const { span, exact } = doc.spanOf('micro_group.stages[1].ratio');
  assert.ok(exact);
  assert.equal(YAML.slice(span.start, span.end), 'ratio');
  assert.equal(doc.positionAt(span.start).character, 6);
});

test('spanOf: a flow mapping inside a list, and a flow list item', () => {
  const doc = new ConfigDocument(YAML);
  const r = doc.spanOf('micro_group.stages[0].ratio').span;
  assert.equal(doc.positionAt(r.start).line, 7);
  assert.equal(YAML.slice(r.start, r.end), 'ratio');
  const item = doc.spanOf('data.benchmarks[1]').span;
  assert.equal(YAML.slice(item.start, item.end), 'ops1');
});

test('spanOf: a missing key or index falls back to the nearest written ancestor', () => {
  const doc = new ConfigDocument(YAML);
  const missing = doc.spanOf('micro_group.stages[1].nope');
  assert.equal(missing.exact, false);
  assert.equal(doc.positionAt(missing.span.start).line, 8, 'on the list item (line of "- n: 2")');
  const beyond = doc.spanOf('micro_group.stages[5]');
  assert.equal(beyond.exact, false);
  assert.equal(YAML.slice(beyond.span.start, beyond.span.end), 'stages');
  assert.deepEqual(doc.spanOf('nothing.here').span, { start: 0, end: 0 });
});

test('spanOf in JSON: the same paths, quoted keys', () => {
  const json = '{\n  "micro_group": {\n    "stages": [\n      {"n": 4, "ratio": 0},\n      {\n        "n": 2,\n        "ratio": 3\n      }\n    ]\n  }\n}\n';
  const doc = new ConfigDocument(json);
  assert.equal(doc.syntaxProblems().length, 0);
  assert.deepEqual(doc.value(), {
    micro_group: {
      stages: [
        { n: 4, ratio: 0 },
        { n: 2, ratio: 3 },
      ],
    },
  });
  assert.equal(lineOf(doc, 'micro_group.stages[1].ratio'), 6);
  assert.equal(lineOf(doc, 'micro_group.stages[0].ratio'), 3);
});

test('positionAt and offsetAt invert each other', () => {
  const doc = new ConfigDocument(YAML);
  for (const off of [0, 5, at(YAML, 'ratio: 0.25'), YAML.length]) {
    assert.equal(doc.offsetAt(doc.positionAt(off)), off);
  }
});

test('nodeAt: keys and values with their paths, in nested maps and lists', () => {
  const doc = new ConfigDocument(YAML);
  assert.deepEqual(doc.nodeAt(at(YAML, 'target_accuracy', 3)), {
    path: ['model', 'warmup', 'target_accuracy'],
    part: 'key',
    span: { start: at(YAML, 'target_accuracy'), end: at(YAML, 'target_accuracy') + 'target_accuracy'.length },
  });
  assert.deepEqual(doc.nodeAt(at(YAML, '0.25', 1))?.path, ['micro_group', 'stages', 1, 'ratio']);
  assert.equal(doc.nodeAt(at(YAML, '0.25', 1))?.part, 'value');
  assert.deepEqual(doc.nodeAt(at(YAML, 'ratio', 2))?.path, ['micro_group', 'stages', 0, 'ratio']);
  assert.deepEqual(doc.nodeAt(at(YAML, 'ops1', 1))?.path, ['data', 'benchmarks', 1]);
  assert.equal(doc.nodeAt(at(YAML, '- n', 0)), undefined, 'the list dash is no node');
});

test('syntax problems carry the offset of the fault', () => {
  const bad = 'model:\n  name_or_path: tiny\n  dtype: [a, b\nseed: 1\n';
  const doc = new ConfigDocument(bad);
  const problems = doc.syntaxProblems().filter((p) => p.severity === 'error');
  assert.ok(problems.length > 0);
  assert.equal(doc.value(), undefined);
  assert.ok(
    doc.positionAt(problems[0].span.start).line >= 2,
    `the error is at or after the unclosed list (line ${doc.positionAt(problems[0].span.start).line})`,
  );
  const dup = new ConfigDocument('seed: 1\nseed: 2\n');
  assert.equal(dup.positionAt(dup.syntaxProblems()[0].span.start).line, 1, 'a duplicate key is an error on its second line');
});

// ---------------------------------------------------------------- completion context

function ctxAt(text: string, cursor: string) {
  // `cursor` marks the cursor with "|" inside a copy of the text.
  const i = cursor.indexOf('|');
  assert.ok(i >= 0);
  assert.equal(cursor.replace('|', ''), text);
  return completionContext(text, i);
}

test('completion context: a new key on a blank line under a mapping, and beside siblings', () => {
  const t1 = 'model:\n  \n';
  assert.deepEqual(ctxAt(t1, 'model:\n  |\n')?.path, ['model']);
  const t2 = 'model:\n  name_or_path: tiny\n  dt\n';
  const c2 = ctxAt(t2, 'model:\n  name_or_path: tiny\n  dt|\n');
  assert.equal(c2?.kind, 'key');
  assert.deepEqual(c2?.path, ['model']);
  assert.deepEqual(c2?.kind === 'key' && c2.existing, ['name_or_path']);
  assert.deepEqual(c2?.word, { start: t2.indexOf('dt'), end: t2.indexOf('dt') + 2 });
  const t3 = 'model:\n  name_or_path: tiny\nal\n';
  assert.deepEqual(ctxAt(t3, 'model:\n  name_or_path: tiny\nal|\n')?.path, []);
  assert.deepEqual(completionContext('', 0)?.path, [], 'an empty file: a top-level key');
});

test('completion context: a value after "key: " and right after "key:"', () => {
  const t = 'algorithm: \nseed: 1\n';
  const c = ctxAt(t, 'algorithm: |\nseed: 1\n');
  assert.equal(c?.kind, 'value');
  assert.deepEqual(c?.path, ['algorithm']);
  assert.equal(c?.kind === 'value' && c.inline, true, "typed on its key's line");
  const below = completionContext('model:\n  \n', 'model:\n  '.length);
  assert.equal(below?.kind === 'value' && below.inline, false, 'a line of its own under the key');
  const t2 = 'model:\n  dtype: bf\n';
  const c2 = ctxAt(t2, 'model:\n  dtype: bf|\n');
  assert.equal(c2?.kind, 'value');
  assert.deepEqual(c2?.path, ['model', 'dtype']);
  assert.deepEqual(c2?.word, { start: t2.indexOf('bf'), end: t2.indexOf('bf') + 2 });
  const t3 = 'algorithm:\n';
  const c3 = ctxAt(t3, 'algorithm:|\n');
  assert.equal(c3?.kind, 'value');
  assert.deepEqual(c3?.path, ['algorithm']);
});

test('completion context: keys of a list item, block and flow, and values of a flow list', () => {
  const t = 'micro_group:\n  stages:\n    - n: 4\n      \n';
  const c = ctxAt(t, 'micro_group:\n  stages:\n    - n: 4\n      |\n');
  assert.equal(c?.kind, 'key');
  assert.deepEqual(c?.path, ['micro_group', 'stages', 0]);
  assert.deepEqual(c?.kind === 'key' && c.existing, ['n']);
  const t2 = 'micro_group:\n  stages:\n    - n: 4\n    - \n';
  assert.deepEqual(ctxAt(t2, 'micro_group:\n  stages:\n    - n: 4\n    - |\n')?.path, ['micro_group', 'stages', 1]);
  const t3 = 'micro_group:\n  stages:\n    - {n: 4, ra}\n';
  const c3 = ctxAt(t3, 'micro_group:\n  stages:\n    - {n: 4, ra|}\n');
  assert.equal(c3?.kind, 'key');
  assert.deepEqual(c3?.path, ['micro_group', 'stages', 0]);
  const t4 = 'data:\n  benchmarks: [builtin, ]\n';
  assert.deepEqual(ctxAt(t4, 'data:\n  benchmarks: [builtin, |]\n')?.path, ['data', 'benchmarks', 1]);
});

test('completion context: JSON keys and values inside quotes', () => {
  const t = '{\n  "model": {\n    "dt"\n  }\n}\n';
  const c = ctxAt(t, '{\n  "model": {\n    "dt|"\n  }\n}\n');
  assert.equal(c?.kind, 'key');
  assert.deepEqual(c?.path, ['model']);
  assert.equal(c?.quoted, true);
  const t2 = '{"algorithm": "gr"}';
  const c2 = ctxAt(t2, '{"algorithm": "gr|"}');
  assert.equal(c2?.kind, 'value');
  assert.deepEqual(c2?.path, ['algorithm']);
  assert.equal(c2?.quoted, true);
  const t3 = '{"model": {"dtype": "auto"}, "se": 1}';
  const c3 = ctxAt(t3, '{"model": {"dtype": "auto"}, "se|": 1}');
  assert.equal(c3?.kind === 'key' && c3.hasColon, true, 'a colon already follows the key');
  assert.deepEqual(c3?.path, []);
});
