import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  closest,
  compileConfigSchema,
  formatProblems,
  loadConfigSchema,
  parseConfigText,
  parseTrainerConfigError,
  pointerToKey,
  validateConfigFile,
  validateConfigObject,
  validateWithTrainer,
} from '../../src/core/configValidation';
import { tempDir } from '../helpers/runDir';

const repo = path.join(__dirname, '..', '..');
const schemaFile = path.join(repo, 'trainer', 'trapo', 'schemas', 'config.schema.json');
const haveSchema = fs.existsSync(schemaFile);

test("JSON pointers become the trainer's dotted keys", () => {
  assert.equal(pointerToKey('/micro_group/stages/1/ratio'), 'micro_group.stages[1].ratio');
  assert.equal(pointerToKey(''), '');
  assert.equal(pointerToKey('/a~1b'), 'a/b');
});

test('a small schema: unknown keys, types, enums and missing keys name the key', () => {
  const validate = compileConfigSchema({
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    additionalProperties: false,
    required: ['algorithm'],
    properties: {
      algorithm: { enum: ['trapo', 'grpo'] },
      optim: { type: 'object', additionalProperties: false, properties: { lr: { type: 'number', minimum: 0 } } },
      stages: { type: 'array', items: { type: 'object', properties: { n: { type: 'integer' } } } },
    },
  });
  assert.deepEqual(validateConfigObject({ algorithm: 'trapo' }, validate), []);
  const problems = validateConfigObject({ algorithm: 'ppo', optim: { lr: -1, lrr: 2 }, stages: [{ n: 1 }, { n: 'two' }] }, validate);
  const byKey = Object.fromEntries(problems.map((p) => [p.key, p.message]));
  assert.match(byKey['algorithm'], /must be one of "trapo", "grpo"/);
  assert.match(byKey['optim.lr'], />= 0/);
  assert.equal(byKey['optim.lrr'], 'unknown key; did you mean "lr"?');
  assert.equal(byKey['stages[1].n'], 'must be integer');
  assert.deepEqual(validateConfigObject({}, validate), [{ key: 'algorithm', message: 'is required' }]);
});

test('2020-12 schemas are compiled too', () => {
  const validate = compileConfigSchema({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties: { seed: { type: 'integer' } },
  });
  assert.deepEqual(validateConfigObject({ seed: 'x' }, validate), [{ key: 'seed', message: 'must be integer' }]);
});

test('YAML and JSON parse; syntax errors and non-mappings are reported', () => {
  assert.deepEqual(parseConfigText('algorithm: grpo\nseed: 3\n', 'a.trapo.yaml'), { ok: true, config: { algorithm: 'grpo', seed: 3 } });
  assert.deepEqual(parseConfigText('', 'empty.trapo.yaml'), { ok: true, config: {} });
  const bad = parseConfigText('a: [1, 2\n', 'bad.trapo.yaml');
  assert.equal(bad.ok, false);
  assert.match(!bad.ok ? bad.problems[0].message : '', /^bad\.trapo\.yaml does not parse: /);
  const list = parseConfigText('- 1\n- 2\n', 'list.trapo.yaml');
  assert.match(!list.ok ? list.problems[0].message : '', /expected key: value lines/);
  const json = parseConfigText('{"seed": }', 'x.trapo.json');
  assert.equal(json.ok, false);
});

test('misspellings are matched to the nearest key', () => {
  assert.equal(closest('algoritm', ['algorithm', 'seed']), 'algorithm');
  assert.equal(closest('zzzzzz', ['algorithm', 'seed']), undefined);
});

test("the trainer's schema accepts an empty config and names a wrong nested key", { skip: !haveSchema }, async () => {
  const validate = await loadConfigSchema(schemaFile);
  const dir = tempDir();
  const good = path.join(dir, 'good.trapo.yaml');
  fs.writeFileSync(good, 'algorithm: grpo\n');
  assert.equal((await validateConfigFile(good, validate)).ok, true);
  const bad = path.join(dir, 'bad.trapo.yaml');
  fs.writeFileSync(bad, 'algorithm: trapo\nmodel:\n  dtyp: float32\nseed: -1\n');
  const r = await validateConfigFile(bad, validate);
  assert.equal(r.ok, false);
  const keys = !r.ok ? r.problems.map((p) => p.key).sort() : [];
  assert.deepEqual(keys, ['model.dtyp', 'seed']);
  assert.match(formatProblems(!r.ok ? r.problems : []), /model\.dtyp: unknown key; did you mean "dtype"\?/);
});

test("the trainer's one-line verdict is read back with its key", async () => {
  assert.deepEqual(parseTrainerConfigError('config error: optim.lr: -1 is out of range; fix: use a value >= 0'), {
    key: 'optim.lr',
    message: '-1 is out of range; fix: use a value >= 0',
  });
  assert.deepEqual(parseTrainerConfigError('config error: <root>: expected a mapping; fix: x'), { key: '', message: 'expected a mapping; fix: x' });
  const fake = (code: number | null, stderr: string, spawnError?: string) => async () => ({ code, stdout: '', stderr, spawnError });
  assert.deepEqual(await validateWithTrainer('py', 'c.yaml', '/', fake(0, '')), []);
  assert.deepEqual(await validateWithTrainer('py', 'c.yaml', '/', fake(2, 'config error: data.train: file x not found; fix: y\n')), [
    { key: 'data.train', message: 'file x not found; fix: y' },
  ]);
  const crash = await validateWithTrainer('py', 'c.yaml', '/', fake(1, "Traceback...\nModuleNotFoundError: No module named 'trapo'\n"));
  assert.match(crash[0].message, /exit 1\): ModuleNotFoundError: No module named 'trapo'/);
  const missing = await validateWithTrainer('/nope/python', 'c.yaml', '/', fake(null, '', 'spawn /nope/python ENOENT'));
  assert.match(missing[0].message, /could not run \/nope\/python: spawn \/nope\/python ENOENT/);
});

test("both templates are valid configs of the trainer's schema", { skip: !haveSchema }, async () => {
  const { DEMO_FALLBACK, REAL_MODEL_TEMPLATE } = await import('../../src/core/templates');
  const validate = await loadConfigSchema(schemaFile);
  for (const [name, text] of [
    ['demo.trapo.yaml', DEMO_FALLBACK],
    ['real.trapo.yaml', REAL_MODEL_TEMPLATE],
  ]) {
    const parsed = parseConfigText(text, name);
    assert.ok(parsed.ok, name);
    assert.deepEqual(parsed.ok ? validateConfigObject(parsed.config, validate) : null, [], name);
  }
  for (const name of ['demo.trapo.yaml', 'real-model.trapo.yaml']) {
    const shipped = path.join(repo, 'trainer', 'trapo', 'configs', name);
    if (fs.existsSync(shipped)) assert.deepEqual(await validateConfigFile(shipped, validate).then((r) => r.ok || r.problems), true, name);
  }
});

test('the built-in demo template warms up as the shipped demo does, so it gets the shipped warmed-up base', async () => {
  const { DEMO_FALLBACK } = await import('../../src/core/templates');
  const shipped = path.join(repo, 'trainer', 'trapo', 'configs', 'demo.trapo.yaml');
  const fallback = parseConfigText(DEMO_FALLBACK, 'demo.trapo.yaml');
  const demo = parseConfigText(fs.readFileSync(shipped, 'utf8'), 'demo.trapo.yaml');
  assert.ok(fallback.ok && demo.ok);
  const warmup = (c: Record<string, unknown>) => (c.model as { warmup?: unknown }).warmup;
  assert.deepEqual(warmup(fallback.config), warmup(demo.config));
  assert.ok(warmup(demo.config), 'the shipped demo names its warm-up');
  assert.equal(fallback.config.seed ?? 0, demo.config.seed ?? 0);
});

test('template file names do not overwrite', async () => {
  const { freeFileName } = await import('../../src/core/templates');
  const taken = new Set(['demo.trapo.yaml', 'demo-2.trapo.yaml']);
  assert.equal(
    freeFileName('demo.trapo.yaml', (n) => taken.has(n)),
    'demo-3.trapo.yaml',
  );
  assert.equal(
    freeFileName('x.trapo.yaml', (n) => taken.has(n)),
    'x.trapo.yaml',
  );
});

const venvPython = path.join(repo, 'trainer', '.venv', 'bin', 'python');
test("the real trainer's validate-config verdict names the key", { skip: !fs.existsSync(venvPython) && 'no trainer venv' }, async () => {
  const { execFile } = await import('node:child_process');
  const run = (command: string, args: string[], cwd: string) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      execFile(command, args, { cwd, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      ),
    );
  const dir = tempDir();
  const bad = path.join(dir, 'bad.trapo.yaml');
  fs.writeFileSync(bad, 'algorithm: trapo\noptim:\n  lr: -1\n');
  const problems = await validateWithTrainer(venvPython, bad, path.join(repo, 'trainer'), run);
  assert.equal(problems.length, 1);
  assert.equal(problems[0].key, 'optim.lr');
  assert.match(problems[0].message, /out of range/);
  const demo = path.join(repo, 'trainer', 'trapo', 'configs', 'demo.trapo.yaml');
  if (fs.existsSync(demo)) assert.deepEqual(await validateWithTrainer(venvPython, demo, path.join(repo, 'trainer'), run), []);
});
