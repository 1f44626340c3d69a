// trapo-run/1.1's token_stats in TypeScript: float16 both ways (every half value), and the TypeScript twin of the
// writer (benchmarks write lines with it) produces the Python writer's bytes for the fixture pair.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { encodeTokenStats, expandTokenStats, halfToNumber, numberToHalf, tokenStatsSummary } from '../../src/core/tokenStats';

const dir = path.join(__dirname, '..', 'fixtures', 'rollout-formats');
const lines = (f: string) =>
  readFileSync(path.join(dir, f), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

test('float16: every finite half value survives number -> half -> number; specials by hand', () => {
  for (let h = 0; h < 0x10000; h++) {
    const x = halfToNumber(h);
    if (!Number.isNaN(x)) assert.equal(numberToHalf(x), h, `half ${h.toString(16)}`);
  }
  assert.equal(halfToNumber(0x3c00), 1);
  assert.equal(halfToNumber(0xc000), -2);
  assert.equal(halfToNumber(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfToNumber(0x7e00)));
  assert.equal(halfToNumber(0x0001), 2 ** -24);
  assert.equal(halfToNumber(numberToHalf(-2.302585)), -2.302734375); // within 0.001 of ln 0.1
});

test('the TypeScript encoder writes what the Python writer wrote; decoding gives the per-token objects back', () => {
  const old = lines('trapo-run-1.jsonl');
  const now = lines('trapo-run-1.1.jsonl');
  old.forEach((r, i) => {
    assert.deepEqual(JSON.stringify(encodeTokenStats(r.tokens, r.prefix, r.completion)), JSON.stringify(now[i].token_stats));
    assert.deepEqual(expandTokenStats(now[i].token_stats, now[i].prefix, now[i].completion), r.tokens);
  });
  const s = tokenStatsSummary(now[2].token_stats, 0.1)!;
  const toks = old[2].tokens as { logprob: number; entropy: number; prefix: boolean }[];
  assert.equal(s.completion_tokens, 0);
  assert.equal(s.prefix_tokens, toks.length);
  assert.equal(s.outside_trust_region, toks.filter((t) => t.logprob < Math.log(0.1)).length / toks.length);
  assert.ok(Math.abs(s.mean_entropy! - toks.reduce((a, t) => a + t.entropy, 0) / toks.length) < 1e-12);
});
