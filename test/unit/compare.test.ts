import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareEvals, loadCheckpointEvals, evalRecordText, EvalSet } from '../../src/core/compare';
import type { EvalRecord } from '../../src/core/runFormat';

const rec = (id: string, accuracy: number): EvalRecord => ({
  problem_id: id,
  prompt: `prompt ${id}`,
  answer: '1',
  samples: [{ completion: `c ${id}`, extracted: accuracy >= 0.5 ? '1' : '0', correct: accuracy >= 0.5 }],
  accuracy,
});
const set = (...r: EvalRecord[]): EvalSet => ({ records: r, skipped: 0 });

describe('compareEvals', () => {
  it('joins per benchmark, pairs by problem id and lists flips each way', () => {
    const a = new Map([
      ['easy', set(rec('1', 0), rec('2', 1), rec('3', 1), rec('4', 0))],
      ['onlyA', set(rec('x', 1))],
    ]);
    const b = new Map([
      ['easy', set(rec('1', 1), rec('2', 0), rec('3', 1), rec('5', 1))],
      ['onlyB', set(rec('y', 0))],
    ]);
    const rows = compareEvals(a, b);
    assert.deepEqual(
      rows.map((r) => [r.benchmark, r.presence]),
      [
        ['easy', 'both'],
        ['onlyA', 'onlyA'],
        ['onlyB', 'onlyB'],
      ],
    );
    const easy = rows[0];
    // Paired problems 1, 2, 3: A = [0, 1, 1], B = [1, 0, 1]: one flip each way, difference 0.
    assert.equal(easy.paired?.n, 3);
    assert.equal(easy.paired?.difference, 0);
    assert.deepEqual(
      easy.flips.map((f) => [f.problemId, f.direction]),
      [
        ['1', 'toB'],
        ['2', 'toA'],
      ],
    );
    assert.equal(easy.unpairedA, 1); // problem 4
    assert.equal(easy.unpairedB, 1); // problem 5
    // Side accuracy over all its problems: A (0+1+1+0)/4 = 0.5, B (1+0+1+1)/4 = 0.75.
    assert.equal(easy.a?.accuracy, 0.5);
    assert.equal(easy.b?.accuracy, 0.75);
    assert.equal(rows[1].a?.accuracy, 1);
    assert.equal(rows[1].b, undefined);
    assert.equal(rows[2].paired, undefined);
  });

  it('loads a checkpoint evals folder and counts bad lines; a missing folder is empty', async () => {
    const run = mkdtempSync(join(tmpdir(), 'trapo-compare-'));
    mkdirSync(join(run, 'evals', '000010'), { recursive: true });
    writeFileSync(join(run, 'evals', '000010', 'easy.jsonl'), JSON.stringify(rec('1', 1)) + '\n{"torn": \n');
    const m = await loadCheckpointEvals(run, 10);
    assert.deepEqual([...m.keys()], ['easy']);
    assert.equal(m.get('easy')?.records.length, 1);
    assert.equal(m.get('easy')?.skipped, 1);
    assert.equal((await loadCheckpointEvals(run, 20)).size, 0);
  });

  it('writes a diff-friendly text for one side', () => {
    const t = evalRecordText(rec('1', 1), 'A @ 10', 'easy', '1');
    assert.match(t, /^A @ 10 · easy · problem 1 · accuracy 1\nground truth: 1\n\nprompt 1\n\n──────── sample 0 · correct · extracted: 1 ────────\nc 1\n$/);
    assert.match(evalRecordText(undefined, 'B', 'easy', '9'), /problem 9 of easy was not evaluated/);
  });
});

describe('compare webview messages', () => {
  it('accepts the five message types, checks the version, and rejects bad fields with a reason', async () => {
    const { parseCompareWebviewMessage, COMPARE_PROTOCOL_VERSION } = await import('../../src/shared/compareProtocol');
    const ok = (m: unknown) => {
      const r = parseCompareWebviewMessage(m);
      assert.ok(r.ok, JSON.stringify(r));
      return r.message;
    };
    const reason = (m: unknown) => {
      const r = parseCompareWebviewMessage(m);
      assert.ok(!r.ok, `accepted ${JSON.stringify(m)}`);
      return r.reason;
    };
    assert.deepEqual(ok({ type: 'ready', version: COMPARE_PROTOCOL_VERSION }), { type: 'ready', version: 1 });
    assert.match(reason({ type: 'ready' }), /protocol version undefined, expected 1/);
    assert.match(reason({ type: 'ready', version: 2 }), /protocol version 2/);
    assert.deepEqual(ok({ type: 'openDiff', benchmark: 'b', problemId: '1', extra: 'dropped' }), { type: 'openDiff', benchmark: 'b', problemId: '1' });
    assert.deepEqual(ok({ type: 'cancel' }), { type: 'cancel' });
    assert.deepEqual(ok({ type: 'prepare' }), { type: 'prepare' });
    const gen = { type: 'generate', generation: 1, prompt: 'x', maxTokens: 16, temperature: 0, promptMode: 'training' };
    assert.deepEqual(ok(gen), gen);
    assert.match(reason({ ...gen, maxTokens: 0 }), /max tokens must be an integer in 1\.\.4096/);
    assert.match(reason({ ...gen, maxTokens: 5000 }), /1\.\.4096/);
    assert.match(reason({ ...gen, temperature: -1 }), /temperature must be a number in 0\.\.10/);
    assert.match(reason({ ...gen, promptMode: 'html' }), /prompt mode must be one of training, chat, raw/);
    assert.match(reason({ ...gen, generation: -1 }), /non-negative integer/);
    assert.match(reason({ type: 'openDiff', benchmark: 3 }), /openDiff: "benchmark" and "problemId" must be strings/);
    assert.match(reason({ type: 'eval' }), /unknown message type "eval"/);
    assert.match(reason(null), /not a message object/);
  });
});
