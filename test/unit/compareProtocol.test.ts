// The Compare Checkpoints webview's messages are checked as the dashboard's are: a ready of another protocol version,
// an unknown type or a malformed field is refused with a reason; well-formed ones come back typed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMPARE_PROTOCOL_VERSION, MAX_LIVE_TOKENS, parseCompareWebviewMessage } from '../../src/shared/compareProtocol';

const generate = { type: 'generate', generation: 3, prompt: '2+2?', maxTokens: 16, temperature: 0, promptMode: 'training' };

test('well-formed messages come back typed, and only their fields', () => {
  assert.deepEqual(parseCompareWebviewMessage({ type: 'ready', version: COMPARE_PROTOCOL_VERSION }), {
    ok: true,
    message: { type: 'ready', version: COMPARE_PROTOCOL_VERSION },
  });
  assert.deepEqual(parseCompareWebviewMessage({ ...generate, extra: '<script>' }), { ok: true, message: generate });
  assert.deepEqual(parseCompareWebviewMessage({ type: 'openDiff', benchmark: 'arith', problemId: 'p1' }), {
    ok: true,
    message: { type: 'openDiff', benchmark: 'arith', problemId: 'p1' },
  });
  assert.deepEqual(parseCompareWebviewMessage({ type: 'cancel' }), { ok: true, message: { type: 'cancel' } });
  assert.deepEqual(parseCompareWebviewMessage({ type: 'prepare' }), { ok: true, message: { type: 'prepare' } });
});

test('a webview of another protocol version is refused at ready', () => {
  const r = parseCompareWebviewMessage({ type: 'ready', version: COMPARE_PROTOCOL_VERSION + 1 });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /protocol version 2, expected 1/);
  assert.equal(parseCompareWebviewMessage({ type: 'ready' }).ok, false);
});

test('malformed messages are refused with a reason', () => {
  const bad: [unknown, RegExp][] = [
    [null, /not a message object/],
    [[generate], /not a message object/],
    [{ type: 'launch' }, /unknown message type "launch"/],
    [{ type: 'openDiff', benchmark: 'arith' }, /openDiff/],
    [{ ...generate, generation: -1 }, /non-negative integer/],
    [{ ...generate, prompt: 42 }, /"prompt" must be a string/],
    [{ ...generate, maxTokens: MAX_LIVE_TOKENS + 1 }, /max tokens/],
    [{ ...generate, maxTokens: 1.5 }, /max tokens/],
    [{ ...generate, temperature: Number.NaN }, /temperature/],
    [{ ...generate, temperature: 11 }, /temperature/],
    [{ ...generate, promptMode: 'system' }, /prompt mode/],
  ];
  for (const [m, reason] of bad) {
    const r = parseCompareWebviewMessage(m);
    assert.equal(r.ok, false, JSON.stringify(m));
    assert.match(!r.ok ? r.reason : '', reason, JSON.stringify(m));
  }
});
