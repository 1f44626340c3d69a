// Completion, hover and diagnostics for config files from the trainer's real schema (src/core/configSchemaHelp.ts):
// keys a mapping may still take, enum values, each key's help, and problems placed on the key at fault.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigDocument } from '../../src/core/configDocument';
import { JsonSchema, configCompletions, configDiagnostics, configHover, schemaAt } from '../../src/core/configSchemaHelp';
import { compileConfigSchema } from '../../src/core/configValidation';

const SCHEMA: JsonSchema = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'trainer', 'trapo', 'schemas', 'config.schema.json'), 'utf8'));
const validate = compileConfigSchema(SCHEMA as Record<string, unknown>);
const DEMO = fs.readFileSync(path.join(__dirname, '..', '..', 'trainer', 'trapo', 'configs', 'demo.trapo.yaml'), 'utf8');

/** Completions at the "|" of `marked`, in YAML unless said. */
function complete(marked: string, flavor: 'yaml' | 'json' = 'yaml') {
  const i = marked.indexOf('|');
  return configCompletions(SCHEMA, marked.replace('|', ''), i, flavor);
}
const labels = (items: { label: string }[]) => items.map((c) => c.label);

test('schemaAt follows mappings and list items', () => {
  assert.equal(schemaAt(SCHEMA, ['micro_group', 'stages', 3, 'ratio'])?.maximum, 1);
  assert.deepEqual(schemaAt(SCHEMA, ['model', 'dtype'])?.enum, ['auto', 'float32', 'bfloat16', 'float16']);
  assert.equal(schemaAt(SCHEMA, ['model', 'nope']), undefined);
});

test("key completion: the top level offers every section not yet written, in the schema's order", () => {
  const items = complete('name: x\nalgorithm: grpo\n|');
  const expected = Object.keys(SCHEMA.properties!).filter((k) => k !== 'name' && k !== 'algorithm');
  assert.deepEqual(labels(items), expected);
  assert.equal(items[0].kind, 'key');
  const model = items.find((c) => c.label === 'model')!;
  assert.equal(model.snippet, 'model:\n\t$0', 'a mapping key opens an indented block');
  assert.match(model.documentation, /policy model/);
});

test("key completion: nested mapping and a list item's keys, with type and default as detail", () => {
  const items = complete('model:\n  name_or_path: tiny\n  d|\n');
  assert.ok(labels(items).includes('dtype') && !labels(items).includes('name_or_path'));
  const dtype = items.find((c) => c.label === 'dtype')!;
  assert.equal(dtype.detail, 'string · default "auto"');
  assert.equal(dtype.snippet, 'dtype: ${1|auto,float32,bfloat16,float16|}', 'an enum key offers its values as a choice, the default first');
  assert.deepEqual(dtype.replace, { start: 'model:\n  name_or_path: tiny\n  '.length, end: 'model:\n  name_or_path: tiny\n  d'.length });
  const stage = complete('micro_group:\n  stages:\n    - n: 4\n      |\n');
  assert.deepEqual(labels(stage), ['ratio', 'threshold']);
  assert.match(stage[0].detail, /number, >= 0, <= 1 · default 0/);
  assert.equal(complete('micro_group:\n  |\n').find((c) => c.label === 'stages')!.snippet, 'stages:\n\t- $0');
});

test("value completion: an enum's values, booleans, nothing for free text", () => {
  const algos = complete('algorithm: |\n');
  assert.deepEqual(labels(algos), ['trapo', 'grpo', 'sft', 'sft_then_rl', 'luffy', 'prefix_context', 'prefix_sft']);
  assert.equal(algos[0].kind, 'value');
  assert.equal(algos[0].detail, 'default');
  assert.deepEqual(labels(complete('micro_group:\n  threshold_kind: m|\n')), ['count', 'mean']);
  assert.deepEqual(labels(complete('model:\n  warmup:\n    enabled: |\n')), ['true', 'false']);
  assert.deepEqual(
    complete('name: |\n').map((c) => c.label),
    ['null'],
    'a string-or-null key offers null only',
  );
  assert.deepEqual(complete('seed: |\n'), []);
  assert.deepEqual(complete('model: |\n'), [], 'no key on the line of a key that wants a mapping');
  assert.ok(labels(complete('model:\n  |\n')).includes('dtype'), 'keys on the line below');
});

test('JSON: keys quoted with a value placeholder, string values quoted unless the cursor is in quotes', () => {
  const keys = complete('{\n  "model": {\n    |\n  }\n}', 'json');
  assert.equal(keys.find((c) => c.label === 'dtype')!.snippet, '"dtype": $0');
  assert.equal(keys.find((c) => c.label === 'name_or_path')!.snippet, '"name_or_path": "$0"');
  assert.equal(complete('{\n  "model": {\n    "dt|"\n  }\n}', 'json').find((c) => c.label === 'dtype')!.snippet, 'dtype');
  assert.equal(complete('{"algorithm": |}', 'json')[1].snippet, '"grpo"');
  assert.equal(complete('{"algorithm": "g|"}', 'json')[1].snippet, 'grpo');
});

test("hover: a key's description, type, range, allowed values and default; on a value too", () => {
  const text = 'micro_group:\n  stages:\n    - n: 4\n      ratio: 0.5\nmodel:\n  dtype: auto\n';
  const onRatio = configHover(SCHEMA, text, text.indexOf('ratio') + 2)!;
  assert.match(onRatio.markdown, /^`micro_group\.stages\[0\]\.ratio`\n/);
  assert.match(onRatio.markdown, /expert-prefix ratio/);
  assert.match(onRatio.markdown, /Type: number \(>= 0, <= 1\)/);
  assert.match(onRatio.markdown, /Default: `0`/);
  assert.equal(text.slice(onRatio.span.start, onRatio.span.end), 'ratio');
  const onValue = configHover(SCHEMA, text, text.indexOf('auto') + 1)!;
  assert.match(onValue.markdown, /One of: `"auto"`, `"float32"`, `"bfloat16"`, `"float16"`/);
  assert.equal(configHover(SCHEMA, text, text.indexOf('- n')), undefined, 'nothing over the list dash');
});

test('diagnostics: the demo config has none; a bad ratio in the second stage points at that line', () => {
  assert.deepEqual(configDiagnostics(DEMO, validate), []);
  const bad = DEMO.replace('    - {n: 2, ratio: 0.25, threshold: 2}', '    - n: 2\n      ratio: 3\n      threshold: 2');
  assert.notEqual(bad, DEMO, 'the demo config has the second stage in flow style');
  const problems = configDiagnostics(bad, validate);
  assert.equal(problems.length, 1, JSON.stringify(problems));
  assert.equal(problems[0].key, 'micro_group.stages[1].ratio');
  const doc = new ConfigDocument(bad);
  const line = doc.positionAt(problems[0].span.start).line;
  assert.equal(bad.split('\n')[line].trim(), 'ratio: 3');
  assert.match(problems[0].message, /^micro_group\.stages\[1\]\.ratio: must be <= 1/);
});

test('diagnostics: an unknown key with a suggestion, a wrong type, a syntax error, each on its own line', () => {
  const text = 'algorithm: trapo\noptim:\n  lrr: 0.1\ntrain:\n  steps: many\n';
  const problems = configDiagnostics(text, validate);
  const at = (key: string) => problems.find((p) => p.key === key)!;
  assert.match(at('optim.lrr').message, /unknown key; did you mean "lr"\?/);
  assert.equal(text.slice(at('optim.lrr').span.start, at('optim.lrr').span.end), 'lrr');
  assert.equal(text.slice(at('train.steps').span.start, at('train.steps').span.end), 'steps');
  const broken = configDiagnostics('model:\n  dtype: [auto\nseed: 1\n', validate);
  assert.equal(broken.length >= 1 && broken[0].severity, 'error');
  assert.equal(broken[0].key, '');
  assert.deepEqual(configDiagnostics('{"seed": 1,}', validate, { syntax: false }), [], 'JSON syntax left to VS Code');
  assert.equal(configDiagnostics('- a\n- b\n', validate)[0].message, 'expected key: value lines at the top level');
});
