// RunManager (vscode stubbed) with real child processes: a child's exit is awaited, and a child that outlives the
// wait is reported as such. Resume uses this when run.json already says "stopped" but the trainer is still leaving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { installVscodeStub } from '../helpers/vscodeStub';

installVscodeStub();

function scratchRun(): { runId: string; runDir: string } {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trapo-manager-'));
  return { runId: path.basename(runDir), runDir };
}

function nodeChild(script: string) {
  return { command: process.execPath, args: ['-e', script], env: {} };
}

test('waitForExit resolves true once the child has exited, and isManaged turns false', async () => {
  const { RunManager } = await import('../../src/runs/runManager');
  const manager = new RunManager(() => 5);
  const { runId, runDir } = scratchRun();
  manager.spawn({ runId, runDir, cwd: runDir, launch: nodeChild('setTimeout(() => {}, 300)'), reason: 'resume' });
  assert.equal(manager.isManaged(runId), true);
  const t0 = Date.now();
  assert.equal(await manager.waitForExit(runId, 10_000), true);
  assert.ok(Date.now() - t0 >= 200, 'it waited for the child (which lives 300 ms)');
  assert.equal(manager.isManaged(runId), false);
  assert.match(fs.readFileSync(path.join(runDir, 'logs', 'trainer.log'), 'utf8'), /trainer exited with code 0/);
  // No child at all: nothing to wait for.
  assert.equal(await manager.waitForExit('no-such-run', 10), true);
});

test('waitForExit resolves false when the child outlives the wait; the child stays managed until stopped', async () => {
  const { RunManager } = await import('../../src/runs/runManager');
  const manager = new RunManager(() => 1);
  const { runId, runDir } = scratchRun();
  manager.spawn({ runId, runDir, cwd: runDir, launch: nodeChild('setInterval(() => {}, 1000)'), reason: 'start' });
  assert.equal(await manager.waitForExit(runId, 200), false);
  assert.equal(manager.isManaged(runId), true);
  const result = await manager.stop({ id: runId, info: { pid: null, host: os.hostname() } as never });
  assert.equal(result.kind, 'done');
  assert.equal(await manager.waitForExit(runId, 5_000), true);
  assert.equal(manager.isManaged(runId), false);
});
