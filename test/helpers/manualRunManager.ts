// Manual check (not a unit test): spawn the real trainer through RunManager (vscode stubbed), watch it in a RunStore,
// stop it with SIGINT and check the run ends "stopped" with logs/trainer.log written. Then resume it for 1 step.
//   node --import tsx test/helpers/manualRunManager.ts
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { installVscodeStub } from './vscodeStub';

installVscodeStub();

async function main() {
  const { RunManager } = await import('../../src/runs/runManager');
  const { RunStore } = await import('../../src/core/runStore');
  const { buildLaunch, makeRunId } = await import('../../src/core/launch');
  const { systemCrashProbe } = await import('../../src/core/crash');
  const repo = path.join(__dirname, '..', '..');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'trapo-manual-'));
  const runId = makeRunId('manual', new Date(), 'abcd');
  const runDir = path.join(root, runId);
  const store = new RunStore({ roots: [root], crashProbe: systemCrashProbe(os.hostname()) });
  await store.start();
  const statuses: string[] = [];
  store.onDidChange((c) => {
    if (c.kind === 'updated' && c.statusChange) statuses.push(`${c.statusChange.from}->${c.statusChange.to}`);
    if (c.kind === 'added') statuses.push(`added:${c.run.status}`);
  });
  const manager = new RunManager(() => 20);
  const python = path.join(repo, 'trainer', '.venv', 'bin', 'python');
  const launch = buildLaunch({
    workspaceTrusted: true,
    python,
    launcher: 'python',
    configFile: path.join(repo, 'trainer', 'trapo', 'configs', 'demo.trapo.yaml'),
    runDir,
    overrides: { 'train.steps': '40', 'model.warmup.enabled': 'false' },
  });
  if (!launch.ok) throw new Error(launch.error);
  const t0 = Date.now();
  manager.spawn({ runId, runDir, cwd: path.join(repo, 'trainer'), launch: launch.launch, reason: 'start' });
  try {
    await follow();
  } finally {
    await manager.shutdown(false); // never leave the trainer behind, even when a wait times out
    store.dispose();
    manager.dispose();
    if (!process.argv.includes('--keep')) fs.rmSync(root, { recursive: true, force: true });
  }
  async function follow() {
    const waitFor = async (what: string, pred: () => boolean, ms: number) => {
      while (!pred()) {
        if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; last line: ${manager.lastLine(runId)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
    };
    await waitFor('run.json and running', () => store.get(runId)?.status === 'running', 400_000);
    await waitFor('step 2', () => (store.get(runId)?.step ?? 0) >= 2, 600_000);
    const r = await manager.stop(store.get(runId)!);
    console.log('stop:', JSON.stringify(r));
    await store.pollRun(runId);
    const run = store.get(runId)!;
    console.log(
      'status',
      run.status,
      'step',
      run.step,
      'checkpoints',
      run.checkpoints.map((c) => c.step),
      'metrics',
      run.metrics.size,
      'skipped',
      JSON.stringify(run.skipped),
      'statuses',
      statuses.join(', '),
    );
    const log = fs.readFileSync(path.join(runDir, 'logs', 'trainer.log'), 'utf8').split('\n');
    console.log('trainer.log lines', log.length, '| first:', log[0].slice(0, 160), '| last:', log.filter(Boolean).at(-1));
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
