// The run format on the TypeScript side: every line of the fixture runs written by the Python writer parses into
// the typed union. A field renamed on one side only makes a fixture line malformed here (or fails the Python test).
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  RunEvent,
  RunEventType,
  parseEvalLine,
  parseEventLine,
  parseRolloutLine,
  readJsonLines,
  readRunInfo,
  withPrompts,
  RunFormatError,
  parseRunInfo,
} from '../../src/core/runFormat';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'runs');

async function fixtureRuns(): Promise<string[]> {
  return (await fs.readdir(FIXTURES)).sort().map((d) => path.join(FIXTURES, d));
}

async function parseAll(runDir: string): Promise<{ events: RunEvent[]; problems: string[] }> {
  const text = await fs.readFile(path.join(runDir, 'events.jsonl'), 'utf8');
  const lines = text.split('\n');
  const torn = !text.endsWith('\n');
  const events: RunEvent[] = [];
  const problems: string[] = [];
  lines.forEach((line, i) => {
    if (line === '' || (torn && i === lines.length - 1)) return;
    const parsed = parseEventLine(line);
    if (parsed.kind === 'event') events.push(parsed.event);
    else problems.push(`${path.basename(runDir)} line ${i + 1}: ${parsed.kind} ${JSON.stringify(parsed)}`);
  });
  return { events, problems };
}

describe('fixture runs written by the Python writer', () => {
  it('parse into the typed union with no malformed or unknown line', async () => {
    const runs = await fixtureRuns();
    assert.equal(runs.length, 4);
    const seen = new Set<RunEventType>();
    for (const run of runs) {
      const { events, problems } = await parseAll(run);
      assert.deepEqual(problems, []);
      assert.ok(events.length > 20, `${run}: only ${events.length} events`);
      for (const e of events) seen.add(e.type);
    }
    const all: RunEventType[] = [
      'run_started',
      'metrics',
      'prefix_allocation',
      'rollouts',
      'eval',
      'checkpoint',
      'heartbeat',
      'phase',
      'log',
      'anomaly',
      'run_finished',
    ];
    assert.deepEqual([...seen].sort(), [...all].sort());
  });

  it('read run.json with the fields the views use', async () => {
    const formats = new Set<string>();
    for (const run of await fixtureRuns()) {
      const info = await readRunInfo(run);
      formats.add(info.format);
      // the crashed run is as trainers before 1.1 wrote it
      assert.equal(info.format, run.includes('crashed') ? 'trapo-run/1' : 'trapo-run/1.1');
      assert.equal(info.id, path.basename(run));
      assert.ok(['trapo', 'grpo', 'luffy'].includes(info.algorithm));
      assert.equal(typeof info.config, 'object');
    }
    assert.deepEqual([...formats].sort(), ['trapo-run/1', 'trapo-run/1.1']);
  });

  it('read rollouts of trapo-run/1 (per-token objects) and 1.1 (parallel arrays) alike', async () => {
    const dir = path.join(__dirname, '..', 'fixtures', 'rollout-formats');
    const old = await readJsonLines(path.join(dir, 'trapo-run-1.jsonl'), parseRolloutLine);
    const now = await readJsonLines(path.join(dir, 'trapo-run-1.1.jsonl'), parseRolloutLine);
    assert.equal(old.skipped + now.skipped, 0);
    assert.equal(now.records.length, 10);
    assert.equal(now.records.filter((r) => r.prompt !== undefined).length, 3); // once per prompt id
    const filled = withPrompts(now.records);
    for (const [a, b] of old.records.map((r, i) => [r, filled[i]] as const)) {
      assert.equal(b.token_stats, undefined);
      assert.deepEqual(b, a); // tokens included: text, logprob, entropy and prefix of every token
    }
    // EOS: not in the completion text, its own text kept; a split character: every token's text kept
    assert.equal(now.records[0].tokens!.at(-1)!.text, '<|im_end|>');
    assert.deepEqual(
      now.records[9].tokens!.map((t) => t.text),
      ['\ufffd', '\ufffd', '!'],
    );
    // a token_stats whose arrays disagree makes the line unreadable, not silently short
    const line = JSON.parse((await fs.readFile(path.join(dir, 'trapo-run-1.1.jsonl'), 'utf8')).split('\n')[1]);
    line.token_stats.n += 1;
    assert.equal(parseRolloutLine(JSON.stringify(line)), undefined);
  });

  it('read every rollout and eval file an event names', async () => {
    for (const run of await fixtureRuns()) {
      const { events } = await parseAll(run);
      let rollouts = 0;
      let evals = 0;
      for (const e of events) {
        if (e.type === 'rollouts') {
          const { records, skipped } = await readJsonLines(path.join(run, e.file), parseRolloutLine);
          assert.equal(skipped, 0);
          assert.equal(records.length, e.count);
          for (const r of records) assert.equal(r.step, e.step);
          rollouts += records.length;
        } else if (e.type === 'eval') {
          for (const [name, b] of Object.entries(e.benchmarks)) {
            const { records, skipped } = await readJsonLines(path.join(run, b.file), parseEvalLine);
            assert.equal(skipped, 0, name);
            assert.equal(records.length, b.n);
            const acc = records.reduce((s, r) => s + r.accuracy, 0) / records.length;
            assert.ok(Math.abs(acc - b.accuracy) < 1e-9, `${name}: ${acc} vs ${b.accuracy}`);
            evals += records.length;
          }
        }
      }
      assert.ok(rollouts > 0 && evals > 0, path.basename(run));
    }
  });

  it('carry per-token statistics where the trainer recorded them', async () => {
    const run = (await fixtureRuns()).find((r) => r.includes('fixture-trapo'))!;
    const { records } = await readJsonLines(path.join(run, 'rollouts', '000001.jsonl'), parseRolloutLine);
    const withPrefix = records.find((r) => r.prefix !== '' && r.tokens !== undefined)!;
    assert.ok(withPrefix.tokens!.some((t) => t.prefix) && withPrefix.tokens!.every((t) => t.logprob <= 0));
  });
});

describe('parseEventLine', () => {
  const ok = { v: 1, type: 'rollouts', time: 1.5, step: 3, file: 'rollouts/000003.jsonl', count: 8 };

  it('accepts a valid line and ignores unknown fields', () => {
    const parsed = parseEventLine(JSON.stringify({ ...ok, extra: { nested: true } }));
    assert.equal(parsed.kind, 'event');
  });

  it('reports a renamed field as malformed, naming it', () => {
    const { count, ...rest } = ok;
    const parsed = parseEventLine(JSON.stringify({ ...rest, n: count }));
    assert.deepEqual(parsed, { kind: 'malformed', reason: 'rollouts: bad "count"' });
  });

  it('counts unknown types and future versions as unknown, not malformed', () => {
    assert.deepEqual(parseEventLine('{"v":1,"type":"gpu_stats","time":1,"step":null}'), { kind: 'unknown', type: 'gpu_stats' });
    assert.equal(parseEventLine('{"v":2,"type":"metrics","time":1,"step":1}').kind, 'unknown');
  });

  it('rejects non-JSON, non-objects, missing time and negative steps', () => {
    for (const line of [
      '{"v":1,"type":"log"',
      '[1,2]',
      '{"v":1,"type":"heartbeat","step":1,"phase":"train"}',
      '{"v":1,"type":"heartbeat","time":1,"step":-1,"phase":"train"}',
    ]) {
      assert.equal(parseEventLine(line).kind, 'malformed', line);
    }
  });

  it('reads an eval accuracy or average as a finite number only, as the schema says (unlike a metric value)', () => {
    // The trainer refuses a benchmark with no problem before it starts (trainer/tests/test_stop_ids.py), so it never
    // writes a non-finite accuracy; a line with one is malformed here as in events.schema.json (test_runformat.py).
    const bench = { accuracy: 0.5, n: 2, samples_per_problem: 1, file: 'evals/000001/ops.jsonl' };
    const line = (accuracy: unknown, average: unknown) =>
      JSON.stringify({ v: 1, type: 'eval', time: 1, step: 1, benchmarks: { ops: { ...bench, accuracy } }, average });
    assert.equal(parseEventLine(line(0.5, 0.5)).kind, 'event');
    for (const [accuracy, average] of [
      ['NaN', 0.5],
      [0.5, 'NaN'],
      ['Infinity', 0.5],
      [null, 0.5],
    ]) {
      assert.equal(parseEventLine(line(accuracy, average)).kind, 'malformed', `${accuracy} / ${average}`);
    }
  });

  it('reads metric values one by one: non-finite tokens are numbers, a bad value costs only itself', () => {
    const line =
      '{"v":1,"type":"metrics","time":1,"step":1,"values":{"loss/total":"NaN","loss/kl":"Infinity","loss/policy":"-Infinity","reward/mean":0.5,"perf/x":null,"perf/y":"1.0","perf/z":[1]}}';
    const parsed = parseEventLine(line);
    assert.equal(parsed.kind, 'event');
    if (parsed.kind !== 'event' || parsed.event.type !== 'metrics') return;
    const v = parsed.event.values;
    assert.deepEqual(Object.keys(v), ['loss/total', 'loss/kl', 'loss/policy', 'reward/mean']);
    assert.ok(Number.isNaN(v['loss/total']));
    assert.equal(v['loss/kl'], Number.POSITIVE_INFINITY);
    assert.equal(v['loss/policy'], Number.NEGATIVE_INFINITY);
    assert.equal(v['reward/mean'], 0.5);
    assert.equal(parsed.badValues, 3, 'null, a numeric string and a list are left out and counted');
    assert.equal(parseEventLine('{"v":1,"type":"metrics","time":1,"step":1,"values":[1]}').kind, 'malformed');
  });

  it('reads non-finite tokens in rollout lines as numbers (a log-probability of -Infinity)', () => {
    const rec = parseRolloutLine(
      JSON.stringify({
        step: 1,
        prompt_id: 'p',
        sample: 0,
        stage: 0,
        level: 0,
        prompt: 'q',
        prefix: '',
        completion: 'a',
        reward: 'NaN',
        advantage: 0,
        answer: '1',
        extracted: null,
        sft_owner: false,
        tokens: [{ text: 'a', logprob: '-Infinity', entropy: 0.1, prefix: false }],
      }),
    );
    assert.ok(rec && Number.isNaN(rec.reward));
    assert.equal(rec!.tokens![0].logprob, Number.NEGATIVE_INFINITY);
    assert.equal(parseRolloutLine('{"step":1}'), undefined);
  });

  it('checks a phase event: a known phase, a fraction in [0, 1] or null, a message', () => {
    const phase = { v: 1, type: 'phase', time: 1, step: null, phase: 'warmup', fraction: 0.4, message: 'step 600 of at most 1500' };
    assert.equal(parseEventLine(JSON.stringify(phase)).kind, 'event');
    assert.equal(parseEventLine(JSON.stringify({ ...phase, fraction: null })).kind, 'event');
    assert.deepEqual(parseEventLine(JSON.stringify({ ...phase, fraction: 1.2 })), { kind: 'malformed', reason: 'phase: bad "fraction"' });
    assert.deepEqual(parseEventLine(JSON.stringify({ ...phase, phase: 'compile' })), { kind: 'malformed', reason: 'phase: bad "phase"' });
  });
});

describe('parseRunInfo', () => {
  it('names the field at fault', () => {
    assert.throws(
      () => parseRunInfo('{"format":"trapo-run/1","id":"x"}'),
      (e: unknown) => e instanceof RunFormatError && /"name"/.test(e.message),
    );
    assert.throws(() => parseRunInfo('{"format":"trapo-run/2","id":"x"}'), /format is "trapo-run\/2", expected one of "trapo-run\/1", "trapo-run\/1.1"/);
    assert.throws(() => parseRunInfo('{'), /not valid JSON/);
  });
});
