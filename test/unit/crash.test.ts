import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrashProbe, CrashInputs, detectCrash, isPidAliveOnThisHost } from '../../src/core/crash';

/** A fake clock and process table. */
function probe(now: number, alive: number[], hostname = 'gpu-1'): CrashProbe & { clock: { t: number } } {
  const clock = { t: now };
  return { clock, now: () => clock.t, hostname, isPidAlive: (pid) => alive.includes(pid) };
}

const running = (over: Partial<CrashInputs> = {}): CrashInputs => ({
  status: 'running',
  pid: 4242,
  host: 'gpu-1',
  lastSignOfLife: 1000,
  ...over,
});

test('a running run on this host with a live pid is not crashed, even with a stale heartbeat', () => {
  // 1000 s of silence > 120 s threshold, but the process is there (e.g. a long checkpoint save).
  assert.deepEqual(detectCrash(running(), probe(2000, [4242]), 120), { crashed: false });
});

test('a running run on this host whose pid is gone is crashed at once', () => {
  // Heartbeat only 1 s old: the dead pid alone decides.
  const v = detectCrash(running(), probe(1001, []), 120);
  assert.equal(v.crashed, true);
  assert.equal(v.crashed && v.reason, 'pid-dead');
});

test('a run on another host is judged by its heartbeat age against the threshold', () => {
  const p = probe(1000, [4242]); // the same pid alive here means nothing: it is another machine's pid
  const input = running({ host: 'node-17', lastSignOfLife: 1000 });
  p.clock.t = 1000 + 120; // age 120 s = threshold: not yet (strictly older is stale)
  assert.deepEqual(detectCrash(input, p, 120), { crashed: false });
  p.clock.t = 1000 + 120.5; // age 120.5 s > 120 s
  const v = detectCrash(input, p, 120);
  assert.equal(v.crashed, true);
  assert.equal(v.crashed && v.reason, 'heartbeat-stale');
  assert.match(v.crashed ? v.detail : '', /121 s \(threshold 120 s\)/); // 120.5 rounds to 121 (Math.round)
});

test('without a pid the heartbeat decides, also on this host', () => {
  const v = detectCrash(running({ pid: null, lastSignOfLife: 10 }), probe(200, []), 120); // age 190 > 120
  assert.equal(v.crashed, true);
  assert.deepEqual(detectCrash(running({ pid: null, lastSignOfLife: 100 }), probe(200, []), 120), { crashed: false }); // 100 s
});

test('finished, failed and stopped runs are never crashed', () => {
  for (const status of ['finished', 'failed', 'stopped'] as const) {
    assert.deepEqual(detectCrash(running({ status }), probe(1e9, []), 120), { crashed: false });
  }
});

test('no sign of life at all on another host: not enough to call it crashed', () => {
  assert.deepEqual(detectCrash(running({ host: 'x', lastSignOfLife: null }), probe(1e9, []), 120), { crashed: false });
});

test('the real pid probe sees this process and not an impossible pid', () => {
  assert.equal(isPidAliveOnThisHost(process.pid), true);
  assert.equal(isPidAliveOnThisHost(2 ** 22 + 12345), false); // above Linux pid_max (2^22)
});
