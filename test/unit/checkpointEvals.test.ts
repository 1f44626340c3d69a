// Evaluate Checkpoint's results (checkpoint_evals/) on the TypeScript side: the fixtures the Python writer made
// parse; the run store reads them, and again when a new summary appears; the Benchmarks view's data has them beside
// the trainer's; Compare reads them, pairs by digest across runs and adds the average row; the command line and
// the progress of `trapo eval --run-dir`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHECKPOINT_EVAL_FORMAT, parseCheckpointEvalSummary, readCheckpointEvals } from '../../src/core/checkpointEvals';
import { RunStore } from '../../src/core/runStore';
import { CHECKPOINT_AVERAGE, benchmarkSummaries } from '../../src/core/benchmarks';
import { averageComparison, compareEvals, findEvalRecord, loadCheckpointEvals, EvalSet } from '../../src/core/compare';
import { stratifiedPairedBootstrap } from '../../src/core/bootstrap';
import { EvalProgress, evalArgs, parseEvalProgressLine } from '../../src/core/evalProgress';
import type { EvalRecord } from '../../src/core/runFormat';
import { tempDir } from '../helpers/runDir';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'runs');
const TRAPO = path.join(FIXTURES, '20261118-080000-fixture-trapo-a001');
const GRPO = path.join(FIXTURES, '20261118-090000-fixture-grpo-a002');

const probe = { now: () => 1795100000, hostname: 'fixture-host', isPidAlive: () => false };

describe('checkpoint_evals/ in the fixture runs', () => {
  it('parses every summary and rejects broken ones with a reason', async () => {
    const { entries, problems } = await readCheckpointEvals(TRAPO);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      entries.map((e) => [e.step, e.checkpoint, Object.keys(e.benchmarks)]),
      [[20, 'checkpoints/000020', ['arith-easy', 'arith-extra']]],
    );
    const easy = entries[0].benchmarks['arith-easy'];
    assert.equal(easy.file, 'checkpoint_evals/000020/arith-easy.jsonl');
    assert.equal(easy.temperature, 0.6);
    assert.match(easy.digest ?? '', /^[0-9a-f]{64}$/);
    assert.deepEqual(await readCheckpointEvals(path.join(FIXTURES, '20261118-110000-fixture-failed-a004')), { entries: [], problems: [] });
    assert.match(parseCheckpointEvalSummary('{', 'x.json') as string, /^x\.json: not valid JSON/);
    assert.equal(parseCheckpointEvalSummary('{"format":"other"}', 'x.json'), 'x.json: format "other", expected "trapo-checkpoint-eval/1"');
    const bad = { format: CHECKPOINT_EVAL_FORMAT, step: 1, benchmarks: { b: { accuracy: 'high' } }, average: 0 };
    assert.equal(parseCheckpointEvalSummary(JSON.stringify(bad), 'x.json'), 'x.json: bad "benchmarks"');
  });

  it('the run store reads them, and a summary written later', async () => {
    const root = tempDir();
    const run = path.join(root, path.basename(TRAPO));
    fs.cpSync(TRAPO, run, { recursive: true });
    fs.rmSync(path.join(run, 'checkpoint_evals'), { recursive: true });
    const store = new RunStore({ roots: [root], crashProbe: probe, watch: false });
    await store.refresh();
    const state = store.getByDir(run)!;
    const evals = () => state.checkpointEvals as readonly { step: number; average: number }[];
    assert.deepEqual(state.checkpointEvals, []);
    fs.cpSync(path.join(TRAPO, 'checkpoint_evals'), path.join(run, 'checkpoint_evals'), { recursive: true });
    await store.refresh();
    assert.deepEqual(
      evals().map((e) => e.step),
      [20],
    );
    // Benchmarks view data: Evaluate Checkpoint's points beside the trainer's, and their own average
    const sums = benchmarkSummaries(state.evals, state.checkpointEvals);
    const easy = sums.find((s) => s.name === 'arith-easy')!;
    assert.deepEqual(
      easy.points.map((p) => [p.step, p.source]),
      [
        [5, 'trainer'],
        [10, 'trainer'],
        [15, 'trainer'],
        [20, 'trainer'],
        [20, 'checkpoint'],
      ],
    );
    assert.equal(easy.latest.source, 'checkpoint');
    assert.equal(easy.latest.file, 'checkpoint_evals/000020/arith-easy.jsonl');
    assert.equal(easy.latest.temperature, 0.6);
    assert.deepEqual(
      sums.find((s) => s.name === 'arith-extra')!.points.map((p) => [p.step, p.source, p.n]),
      [[20, 'checkpoint', 6]],
    );
    assert.deepEqual(
      sums.map((s) => s.name),
      ['arith-easy', 'arith-medium', 'arith-hard', 'arith-extra', 'average', CHECKPOINT_AVERAGE],
    );
    assert.equal(sums.at(-1)!.latest.accuracy, evals()[0].average);
    store.dispose();
  });
});

describe('Compare reads both kinds of evaluation and pairs across runs', () => {
  it("takes Evaluate Checkpoint results over the trainer's of the same name and pairs by digest", async () => {
    const digests = JSON.parse(fs.readFileSync(path.join(TRAPO, 'checkpoint_evals', '000020.json'), 'utf8')).benchmarks;
    const a = await loadCheckpointEvals(
      TRAPO,
      20,
      {},
      { 'arith-easy': { digest: digests['arith-easy'].digest }, 'arith-extra': { digest: digests['arith-extra'].digest } },
    );
    assert.deepEqual([...a.keys()], ['arith-easy', 'arith-hard', 'arith-medium', 'arith-extra']);
    assert.equal(a.get('arith-easy')!.source, 'checkpoint');
    assert.equal(a.get('arith-hard')!.source, 'trainer');
    const b = await loadCheckpointEvals(GRPO, 20, {}, { 'arith-extra': { digest: digests['arith-extra'].digest } });
    const rows = compareEvals(a, b);
    const extra = rows.find((r) => r.benchmark === 'arith-extra')!;
    assert.equal(extra.presence, 'both');
    assert.equal(extra.paired?.n, 6, 'the same file evaluated on demand in two runs pairs problem by problem');
    assert.equal(extra.a?.source, 'checkpoint');
    // the diff editor finds the on-demand record by its file
    const rec = await findEvalRecord(TRAPO, 20, 'arith-extra', 'arith-extra-000', a.get('arith-extra')!.file);
    assert.equal(rec?.problem_id, 'arith-extra-000');
    await assert.rejects(findEvalRecord(TRAPO, 20, 'x', 'y', '../../../etc/passwd'), /not an evaluation file/);
  });

  const rec = (id: string, accuracy: number): EvalRecord => ({ problem_id: id, prompt: id, answer: '1', samples: [], accuracy });
  const set = (digest: string | undefined, accs: number[], prefix = 'p'): EvalSet => ({
    records: accs.map((x, i) => rec(`${prefix}${i}`, x)),
    skipped: 0,
    digest,
  });

  it('pairs equal digests under two names and refuses one name over different problems', () => {
    const a = new Map([
      ['math500', set('d1', [0, 1])],
      ['aime', set('d2', [1, 1])],
      ['plain', set(undefined, [0])],
    ]);
    const b = new Map([
      ['math500_1', set('d1', [1, 1])],
      ['aime', set('d3', [0, 0])],
      ['plain', set('dx', [1])],
    ]);
    const rows = compareEvals(a, b);
    assert.deepEqual(
      rows.map((r) => [r.benchmark, r.presence]),
      [
        ['aime', 'onlyA'],
        ['aime', 'onlyB'],
        ['math500 = math500_1', 'both'],
        ['plain', 'both'],
      ],
    );
    assert.match(rows[0].note!, /aime holds different problems on A and B \(the benchmark files differ\): not paired/);
    assert.match(rows[2].note!, /the same problems \(equal digests\) under the names math500 and math500_1/);
    assert.equal(rows[2].paired?.difference, 0.5);
    assert.equal(rows[3].note, undefined, 'a side without a digest (an older run) pairs by name');
  });

  it('the average row is the mean over benchmarks with a stratified paired interval', () => {
    const a = new Map([
      ['x', set(undefined, [0, 0, 1, 1])],
      ['y', set(undefined, [1, 1])],
      ['onlyA', set(undefined, [1])],
    ]);
    const b = new Map([
      ['x', set(undefined, [1, 1, 1, 1])],
      ['y', set(undefined, [1, 0])],
    ]);
    const rows = compareEvals(a, b);
    const avg = averageComparison(rows, a, b)!;
    assert.deepEqual(avg.benchmarks, ['x', 'y']);
    // x: 0.5 -> 1.0 (+0.5); y: 1.0 -> 0.5 (-0.5); each benchmark weighs 1/2: difference 0
    assert.equal(avg.stats.accuracyA, 0.75);
    assert.equal(avg.stats.accuracyB, 0.75);
    assert.equal(avg.stats.difference, 0);
    assert.equal(avg.stats.n, 6);
    assert.deepEqual([avg.stats.flipsToB, avg.stats.flipsToA], [2, 1]);
    assert.ok(avg.stats.low < 0 && avg.stats.high > 0, `${avg.stats.low} .. ${avg.stats.high}`);
    assert.equal(averageComparison(compareEvals(new Map([['x', set(undefined, [1])]]), new Map()), new Map(), new Map()), null);
  });

  it('the stratified bootstrap: a constant difference has a zero-width interval; each benchmark weighs the same', () => {
    const s = stratifiedPairedBootstrap([
      { a: [0, 0, 0, 0], b: [1, 1, 1, 1] },
      { a: [0.5], b: [0.5] },
    ]);
    assert.deepEqual([s.difference, s.low, s.high], [0.5, 0.5, 0.5]);
    const wide = stratifiedPairedBootstrap([{ a: [0, 1, 0, 1, 0, 1, 0, 1], b: [1, 1, 0, 0, 1, 1, 0, 0] }], { resamples: 4000 });
    assert.equal(wide.difference, 0);
    assert.ok(wide.low < -0.2 && wide.high > 0.2, `${wide.low} .. ${wide.high}`);
    assert.throws(() => stratifiedPairedBootstrap([{ a: [1], b: [] }]), /1 problems on side A but 0 on side B/);
  });
});

describe('Evaluate Checkpoint command line and progress', () => {
  it('builds the command line', () => {
    assert.deepEqual(
      evalArgs({ checkpointDir: '/r/checkpoints/000004', runDir: '/r', step: 4, benchmarks: ['builtin', '/d/aime.parquet'], samplesPerProblem: 16 }),
      [
        '-m',
        'trapo',
        'eval',
        '/r/checkpoints/000004',
        '--run-dir',
        '/r',
        '--step',
        '4',
        '--progress',
        '--chunk',
        '16',
        '--benchmark',
        'builtin',
        '--benchmark',
        '/d/aime.parquet',
        '--set',
        'eval.samples_per_problem=16',
      ],
    );
    assert.throws(() => evalArgs({ checkpointDir: 'c', runDir: 'r', step: 1, benchmarks: [], samplesPerProblem: 0 }), /positive integer/);
  });

  it('turns progress lines into a message and a percentage that adds up to 100', () => {
    const p = new EvalProgress();
    const lines = [
      '{"type": "start", "step": 4, "benchmarks": ["ops1", "ops2"], "problems": 8, "samples_per_problem": 4, "device": "cpu", "model": "m", "temperature": 0.6, "max_new_tokens": 48}',
      'Loading weights: 100%',
      '{"type": "progress", "benchmark": "ops1", "done": 2, "total": 4, "problems_done": 2, "problems": 8}',
      '{"type": "progress", "benchmark": "ops1", "done": 4, "total": 4, "problems_done": 4, "problems": 8}',
      '{"type": "benchmark", "benchmark": "ops1", "accuracy": 0.75, "n": 4, "file": "checkpoint_evals/000004/ops1.jsonl"}',
      '{"type": "progress", "benchmark": "ops2", "done": 4, "total": 4, "problems_done": 8, "problems": 8}',
      '{"type": "result", "step": 4, "benchmarks": {}, "average": 0.5}',
    ];
    const reports = lines
      .map(parseEvalProgressLine)
      .filter((x) => x !== undefined)
      .map((l) => p.update(l!)!);
    assert.deepEqual(
      reports.map((r) => r.message),
      [
        '2 benchmarks, 8 problems × 4 samples on cpu',
        'ops1: 2/4 problems',
        'ops1: 4/4 problems',
        'ops1: 75.0% over 4 problems',
        'ops2: 4/4 problems',
        'average 50.0%',
      ],
    );
    assert.deepEqual(
      reports.map((r) => r.increment),
      [0, 25, 25, 0, 50, 0],
    );
    assert.equal(p.result?.average, 0.5);
    assert.deepEqual(p.update(parseEvalProgressLine('{"type": "cancelled", "step": 4, "finished": ["ops1"]}')!), {
      message: 'cancelled; kept 1 finished benchmark',
      increment: 0,
    });
  });
});
