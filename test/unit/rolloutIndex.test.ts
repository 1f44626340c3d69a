import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, appendFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RolloutIndex, RolloutIndexError, filterRollouts, half, parseRolloutQuery } from '../../src/core/rolloutIndex';
import { encodeTokenStats, halfToNumber } from '../../src/core/tokenStats';
import { formatRolloutQuery } from '../../src/shared/rolloutQuery';
import { rollout, line } from './rolloutFixtures';

const dir = mkdtempSync(join(tmpdir(), 'trapo-rollout-index-'));
let n = 0;
function file(text: string): string {
  const f = join(dir, `${String(n++).padStart(6, '0')}.jsonl`);
  writeFileSync(f, text);
  return f;
}

describe('RolloutIndex', () => {
  it('indexes valid lines and reads each back by offset', async () => {
    const recs = [0, 1, 2, 3].map((s) => rollout({ sample: s, reward: s % 2, prompt_id: s < 2 ? 'pA' : 'pB', prompt: s < 2 ? 'Prompt A' : 'Prompt B' }));
    const f = file(recs.map(line).join(''));
    const idx = await RolloutIndex.build(f);
    assert.equal(idx.count, 4);
    assert.equal(idx.skipped, 0);
    assert.equal(idx.tornTailBytes, 0);
    assert.deepEqual(idx.prompts, ['pA', 'pB']);
    assert.deepEqual(idx.group('pB'), [2, 3]);
    assert.equal(idx.find('pB', 3), 3);
    assert.equal(idx.find('pB', 9), -1);
    assert.equal(idx.promptText(2), 'Prompt B');
    assert.deepEqual(idx.summary(1), {
      index: 1,
      line: 2,
      step: 3,
      promptId: 'pA',
      sample: 1,
      stage: 0,
      level: 0,
      reward: 1,
      advantage: 0.5,
      length: -1,
      meanEntropy: Number.NaN,
      outside: Number.NaN,
    });
    for (let k = 0; k < 4; k++) assert.deepEqual(await idx.read(k), recs[k]);
  });

  it('skips and counts torn and malformed lines, with line numbers and reasons', async () => {
    const good = (s: number) => line(rollout({ sample: s, completion: `é→ sample ${s} "quoted" \\ back` }));
    const glued = line(rollout({ sample: 7 })).slice(0, 40) + line(rollout({ sample: 8 })); // torn write, then appended
    const text =
      good(0) + // line 1
      'not json at all\n' + // line 2: malformed
      '\n' + // line 3: blank, ignored
      JSON.stringify({ ...rollout({ sample: 9 }), reward: undefined }) +
      '\n' + // line 4: no reward
      glued + // line 5: two records glued
      good(1) + // line 6
      '{"step":3,"prompt_id":"p0","sample":"x","stage":0,"level":0,"reward":1,"prompt":"q"}\n' + // line 7: sample not int
      good(2) + // line 8
      line(rollout({ sample: 4 })).slice(0, 30); // torn last line (no newline)
    const f = file(text);
    // A tiny chunk size makes lines span chunks and the buffer grow.
    const idx = await RolloutIndex.build(f, { chunkBytes: 64 });
    assert.equal(idx.count, 3);
    assert.deepEqual(
      [0, 1, 2].map((k) => idx.summary(k).sample),
      [0, 1, 2],
    );
    assert.deepEqual(
      [0, 1, 2].map((k) => idx.summary(k).line),
      [1, 6, 8],
    );
    assert.equal(idx.skipped, 4);
    assert.deepEqual(
      idx.skippedDetails.map((s) => s.line),
      [2, 4, 5, 7],
    );
    assert.match(idx.skippedDetails[1].reason, /no "reward"/);
    assert.match(idx.skippedDetails[2].reason, /"step" twice/);
    assert.equal(idx.tornTailBytes, 30);
    assert.equal((await idx.read(1)).completion, 'é→ sample 1 "quoted" \\ back');
  });

  it('picks up a torn last line once it is completed, and new lines appended', async () => {
    const whole = line(rollout({ sample: 1 }));
    const f = file(line(rollout({ sample: 0 })) + whole.slice(0, 25));
    const idx = await RolloutIndex.build(f);
    assert.equal(idx.count, 1);
    assert.equal(idx.tornTailBytes, 25);
    appendFileSync(f, whole.slice(25) + line(rollout({ sample: 2 })));
    await idx.update();
    assert.equal(idx.count, 3);
    assert.equal(idx.tornTailBytes, 0);
    assert.equal(idx.skipped, 0);
    assert.equal((await idx.read(2)).sample, 2);
  });

  it('reports a line that frames well but is not valid JSON when it is read', async () => {
    const bad = '{"step":3,"prompt_id":"p0","sample":1,"stage":0,"level":0,"reward":1,"prompt":"q",}\n'; // trailing comma
    const f = file(line(rollout()) + bad);
    const idx = await RolloutIndex.build(f);
    assert.equal(idx.count, 2);
    await assert.rejects(idx.read(1), (e: unknown) => e instanceof RolloutIndexError && /line 2 is not a valid rollout/.test(e.message));
    assert.equal(idx.malformedOnRead, 1);
    assert.throws(() => idx.summary(2), /out of range: .* has 2 valid rollouts/);
  });

  it('skips a line longer than maxLineBytes and goes on', async () => {
    const long = line(rollout({ sample: 1, completion: 'x'.repeat(5000) }));
    const f = file(line(rollout({ sample: 0 })) + long + line(rollout({ sample: 2 })));
    const idx = await RolloutIndex.build(f, { chunkBytes: 256, maxLineBytes: 1024 });
    assert.equal(idx.count, 2);
    assert.deepEqual([idx.summary(0).sample, idx.summary(1).sample], [0, 2]);
    assert.equal(idx.skipped, 1);
    assert.match(idx.skippedDetails[0].reason, /longer than 1024 bytes/);
    assert.equal((await idx.read(1)).sample, 2);
  });

  it('names the file when it cannot be opened', async () => {
    await assert.rejects(RolloutIndex.build(join(dir, 'missing.jsonl')), /cannot open rollout file .*missing\.jsonl/);
  });
});

describe('Open Rollouts filter', () => {
  it('parses level, reward and words', () => {
    assert.deepEqual(parseRolloutQuery(' level:1,2 reward:>0 Add  '), {
      conditions: [
        { field: 'level', kind: 'oneOf', values: [1, 2] },
        { field: 'reward', kind: 'compare', op: '>', value: 0 },
      ],
      words: ['add'],
    });
    assert.deepEqual(parseRolloutQuery('reward:1 color:red level:x'), {
      conditions: [{ field: 'reward', kind: 'compare', op: '=', value: 1 }],
      words: ['color:red', 'level:x'],
    });
  });

  it('parses ranges, other fields, an exact prompt id, and prints the query back', () => {
    const q = parseRolloutQuery('step:200..100 advantage:<=-0.25 length:>=80 entropy:<1e-2 id:p0007 sum');
    assert.deepEqual(q.conditions, [
      { field: 'step', kind: 'range', lo: 100, hi: 200 },
      { field: 'advantage', kind: 'compare', op: '<=', value: -0.25 },
      { field: 'length', kind: 'compare', op: '>=', value: 80 },
      { field: 'entropy', kind: 'compare', op: '<', value: 0.01 },
    ]);
    assert.equal(q.promptId, 'p0007');
    assert.equal(formatRolloutQuery(q), 'step:100..200 advantage:<=-0.25 length:>=80 entropy:<0.01 id:p0007 sum');
  });

  it('filters an index by level, reward and prompt text', async () => {
    const recs = [
      rollout({ prompt_id: 'a', sample: 0, level: 0, reward: 1, prompt: 'Add 2 and 3' }),
      rollout({ prompt_id: 'a', sample: 1, level: 0, reward: 0, prompt: 'Add 2 and 3' }),
      rollout({ prompt_id: 'b', sample: 0, level: 2, reward: 0, prompt: 'Multiply 4 by 5' }),
      rollout({ prompt_id: 'b', sample: 1, level: 2, reward: 1, prompt: 'Multiply 4 by 5' }),
    ];
    const idx = await RolloutIndex.build(file(recs.map(line).join('')));
    assert.deepEqual(filterRollouts(idx, parseRolloutQuery('level:2')).matches, [2, 3]);
    assert.deepEqual(filterRollouts(idx, parseRolloutQuery('reward:1')).matches, [0, 3]);
    assert.deepEqual(filterRollouts(idx, parseRolloutQuery('reward:<1 multiply')).matches, [2]);
    assert.deepEqual(filterRollouts(idx, parseRolloutQuery(''), 1), { matches: [0], total: 4 });
    assert.deepEqual(filterRollouts(idx, parseRolloutQuery('id:b')).matches, [2, 3]);
    assert.deepEqual(filterRollouts(idx, parseRolloutQuery('id:B')).matches, []); // ids are exact
    assert.deepEqual(filterRollouts(idx, parseRolloutQuery('length:>0')).matches, []); // unknown length matches nothing
  });
});

describe('rollout summaries of both format versions', () => {
  it('decode every float16 bit pattern as tokenStats.halfToNumber does', () => {
    for (let h = 0; h < 65536; h++) {
      const a = half(h);
      const b = halfToNumber(h);
      if (!Object.is(a, b)) assert.fail(`pattern ${h.toString(16)}: ${a} vs ${b}`);
    }
  });

  const formats = join(__dirname, '..', 'fixtures', 'rollout-formats');

  it('come from 1.1 token_stats and 1 per-token objects alike when asked; prompts filled in on read', async () => {
    const compact = await RolloutIndex.build(join(formats, 'trapo-run-1.1.jsonl'), { summaries: true });
    const legacy = await RolloutIndex.build(join(formats, 'trapo-run-1.jsonl'), { summaries: true });
    const plain = await RolloutIndex.build(join(formats, 'trapo-run-1.jsonl'));
    assert.equal(compact.count, 10);
    assert.equal(legacy.count, 10);
    for (let k = 0; k < 10; k++) {
      const a = compact.summary(k);
      const b = legacy.summary(k);
      assert.equal(a.length, b.length, `length of ${k}`);
      assert.ok(Math.abs(a.meanEntropy - b.meanEntropy) < 1e-5, `entropy of ${k}: ${a.meanEntropy} vs ${b.meanEntropy}`);
      assert.ok(Number.isNaN(a.outside) ? Number.isNaN(b.outside) : Math.abs(a.outside - b.outside) < 1e-6, `outside of ${k}`);
      assert.equal(a.advantage, 0.25);
      assert.equal(plain.summary(k).length, -1); // without the option: unknown, no parse
    }
    // by hand, the second rollout: 7 prefix tokens of 16 (+ EOS), two of them with p < 0.1
    const lines = readFileSync(join(formats, 'trapo-run-1.jsonl'), 'utf8').split('\n');
    const tokens = JSON.parse(lines[1]).tokens as { logprob: number; prefix: boolean }[];
    const pre = tokens.filter((t) => t.prefix);
    assert.equal(compact.summary(1).outside, Math.fround(pre.filter((t) => Math.exp(t.logprob) < 0.1).length / pre.length));
    // the 1.1 file gives each prompt once; every record read back has it, as in the 1 file
    const compactLines = readFileSync(join(formats, 'trapo-run-1.1.jsonl'), 'utf8').split('\n').filter(Boolean);
    assert.equal(compactLines.filter((l) => JSON.parse(l).prompt !== undefined).length, 3);
    for (let k = 0; k < 10; k++) assert.equal((await compact.read(k)).prompt, JSON.parse(lines[k]).prompt);
    assert.equal(compact.promptText(2), JSON.parse(lines[2]).prompt);
    const noOption = await RolloutIndex.build(join(formats, 'trapo-run-1.1.jsonl'));
    assert.equal(noOption.summary(0).length, -1);
  });

  it('of long rollouts (base64 decoded by Node) match those of their per-token objects', async () => {
    const recs = [40, 150, 700].map((count, sample) => {
      const tokens = Array.from({ length: count }, (_, t) => ({
        text: ` t${t % 7}`,
        logprob: -((t * 37) % 400) / 100,
        entropy: ((t * 53) % 300) / 100,
        prefix: t < count / 4,
      }));
      const prefix = tokens
        .filter((t) => t.prefix)
        .map((t) => t.text)
        .join('');
      const completion = tokens
        .filter((t) => !t.prefix)
        .map((t) => t.text)
        .join('');
      return rollout({ sample, prefix, completion, tokens });
    });
    const legacy = await RolloutIndex.build(file(recs.map(line).join('')), { summaries: true });
    const compactText = recs
      .map(({ tokens, ...r }) => JSON.stringify({ ...r, token_stats: encodeTokenStats(tokens!, r.prefix, r.completion) }) + '\n')
      .join('');
    assert.ok(compactText.includes('"text_len"'));
    const compact = await RolloutIndex.build(file(compactText), { summaries: true });
    for (let k = 0; k < 3; k++) {
      const a = compact.summary(k);
      const b = legacy.summary(k);
      assert.equal(a.length, b.length, `length of ${k}`);
      assert.ok(Math.abs(a.meanEntropy - b.meanEntropy) < 2e-3, `entropy of ${k}: ${a.meanEntropy} vs ${b.meanEntropy}`);
      assert.ok(Math.abs(a.outside - b.outside) < 0.02, `outside of ${k}: ${a.outside} vs ${b.outside}`);
    }
    assert.equal(compact.summary(2).length, 700 - 175);
  });

  it("skip a trainer's line glued to the next after a torn write wherever the cut fell, in either version", async () => {
    for (const name of ['trapo-run-1.1.jsonl', 'trapo-run-1.jsonl']) {
      const lines = readFileSync(join(formats, name), 'utf8').split('\n').filter(Boolean);
      const third = lines[2];
      // cut inside the head (before level), the completion, just after reward, and inside the per-token data
      const cuts = [30, third.indexOf('"completion"') + 20, third.indexOf('"reward"') + 12, third.length - 40];
      for (const cut of cuts) {
        const text = [...lines.slice(0, 2), third.slice(0, cut) + lines[3], ...lines.slice(4)].join('\n') + '\n';
        const idx = await RolloutIndex.build(file(text), { summaries: true });
        const where = `${name}, cut at ${cut}`;
        assert.equal(idx.count, lines.length - 2, where); // lines 3 and 4 became one line, skipped
        assert.equal(idx.skipped, 1, where);
        assert.deepEqual(idx.skippedDetails[0].line, 3, where);
        assert.match(idx.skippedDetails[0].reason, /"step" twice/, where);
        assert.deepEqual(
          [0, 1, 2].map((k) => idx.summary(k).line),
          [1, 2, 4],
          where,
        );
      }
    }
  });
});
