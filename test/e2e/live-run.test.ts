// A run started from the palette with the demo config, watched live, stopped and resumed; a bad config refused; a
// killed trainer shown as crashed. The trainer runs for real (trainer/.venv, tiny model on CPU).
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEMO_CONFIG, Session, guarded, pending, sleep, startSession } from './harness';

const STATUS_STEP = /step\s*(\d+)\s*\/\s*(\d+)/i;

// A config that the schema refuses: train.steps has "minimum": 1 (trainer/trapo/schemas/config.schema.json).
const BAD_CONFIG = `algorithm: trapo
model:
  name_or_path: tiny
train:
  steps: -5
`;

/** Directories of the runs in the session's workspace (runs/<id>/run.json). */
function runDirs(s: Session): string[] {
  const root = path.join(s.workspace, 'runs');
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((d) => path.join(root, d))
    .filter((d) => fs.existsSync(path.join(d, 'run.json')));
}

function readRun(dir: string): { status: string; step?: number; pid?: number; total_steps?: number } {
  return JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
}

/** The status bar's step/total now, or undefined. */
async function statusStep(s: Session): Promise<{ step: number; total: number } | undefined> {
  for (const t of await s.statusBarTexts()) {
    const m = STATUS_STEP.exec(t);
    if (m) return { step: Number(m[1]), total: Number(m[2]) };
  }
  return undefined;
}

/** Starts a run from the palette with the config file `configName` of the workspace. */
async function startRun(s: Session, configName: string): Promise<void> {
  await s.runCommand('TRAPO: Start TRAPO Run', { query: 'Start TRAPO run' });
  await s.pickQuickPick(configName);
}

describe('a live run of the demo config', () => {
  let s: Session;
  let runDir = '';
  before(async () => {
    s = await startSession({ label: 'live', workspaceFiles: { 'bad.trapo.yaml': BAD_CONFIG } });
    await s.openTrapoContainer();
  });
  after(async () => {
    await s?.close();
  });
  const guard = (name: string, fn: () => Promise<void>) => guarded(() => s, `live-${name}`, fn);

  test('Start TRAPO Run with the demo config: the status bar shows the step and the Runs tree the run running',
    pending(fs.existsSync(DEMO_CONFIG) ? 'E1: the start flow is not implemented yet' : 'T1: no demo config yet (trainer/trapo/configs/demo.trapo.yaml)'),
    guard('start', async () => {
      await startRun(s, 'demo.trapo.yaml');
      const st = await s.waitUntil('step/total in the status bar', () => statusStep(s), 120_000);
      assert.ok(st.total > 0, `total steps ${st.total}`);
      runDir = await s.waitUntil('a run directory under runs/', async () => runDirs(s)[0], 30_000);
      await s.waitUntil('the run shown running in the Runs tree', async () =>
        (await s.treeRows('Runs')).some((r) => /running/i.test(r)), 30_000);
      await s.screenshot('10-live-run-started');
    }));

  test('the dashboard\'s charts gain points while the run goes',
    pending('E2: the dashboard webview is not implemented yet'),
    guard('dashboard-live', async () => {
      await s.runCommand('TRAPO: Open Dashboard', { query: 'TRAPO Open Dashboard' });
      const frame = await s.webviewFrame('canvas');
      const chart = frame.locator('canvas').first();
      // The chart's image changes as new steps arrive: compare the first chart's pixels a few steps apart.
      const snap = () => chart.evaluate((c) => (c as unknown as { toDataURL(): string }).toDataURL());
      const first = await snap();
      const step0 = (await statusStep(s))?.step ?? 0;
      await s.waitUntil('two more steps', async () => ((await statusStep(s))?.step ?? 0) >= step0 + 2, 120_000);
      await sleep(1000);
      assert.notEqual(await snap(), first, 'the first chart was redrawn with new points');
      await s.screenshot('11-live-dashboard');
    }));

  test('Stop, then Resume: the step count continues where it stopped',
    pending('E1: Stop/Resume are not implemented yet'),
    guard('stop-resume', async () => {
      assert.ok(runDir, 'a run was started by the first test');
      await s.runCommand('TRAPO: Stop Run', { query: 'TRAPO Stop Run' });
      await s.waitUntil('run.json says stopped', async () => readRun(runDir).status === 'stopped', 90_000);
      const stoppedAt = readRun(runDir).step ?? 0;
      await s.waitUntil('the run shown stopped in the Runs tree', async () =>
        (await s.treeRows('Runs')).some((r) => /stopped/i.test(r)), 20_000);
      await s.screenshot('12-live-stopped');
      await s.rowAction(s.treeRow('Runs', /stopped/i), 'Resume Run');
      // Resumed in the same run directory: the steps go on from the last checkpoint, not from 0.
      const st = await s.waitUntil('the status bar step after resume', async () => {
        const x = await statusStep(s);
        return x && x.step > 0 ? x : undefined;
      }, 120_000);
      assert.ok(st.step >= Math.min(stoppedAt, 1), `resumed at step ${st.step} after stopping at ${stoppedAt}`);
      assert.equal(runDirs(s).length, 1, 'resume used the same run directory');
      await s.waitUntil(`a step beyond ${stoppedAt}`, async () => ((await statusStep(s))?.step ?? 0) > stoppedAt, 120_000);
    }));

  test('the run finishes: the Runs tree shows it finished, Prefix Allocation and Benchmarks fill',
    pending('E1: the trees are not implemented yet'),
    guard('finished', async () => {
      await s.waitUntil('run.json says finished', async () => readRun(runDir).status === 'finished', 300_000, 1000);
      await s.waitUntil('the run shown finished in the Runs tree', async () =>
        (await s.treeRows('Runs')).some((r) => /finished/i.test(r)), 20_000);
      await s.treeRow('Runs', /finished/i).click();
      await s.waitUntil('Prefix Allocation rows', async () => (await s.treeRows('Prefix Allocation')).length > 0);
      await s.waitUntil('Benchmarks rows', async () => (await s.treeRows('Benchmarks')).length > 0);
      await s.screenshot('13-live-finished-trees');
    }));

  test('a bad config is refused with the key named, and nothing is spawned',
    pending('E1: the start flow (config validation) is not implemented yet'),
    guard('bad-config', async () => {
      const before = runDirs(s).length;
      await startRun(s, 'bad.trapo.yaml');
      const toast = await s.waitForNotification(/train\.steps/, 20_000);
      assert.match(await toast.innerText(), /train\.steps/);
      await s.screenshot('14-bad-config-refused');
      await sleep(2000);
      assert.equal(runDirs(s).length, before, 'no run directory was created');
    }));

  test('a killed trainer is shown as crashed with Resume offered',
    pending('E1: crash detection is not implemented yet'),
    guard('crash', async () => {
      const before = new Set(runDirs(s));
      await startRun(s, 'demo.trapo.yaml');
      const dir = await s.waitUntil('a second run directory', async () => runDirs(s).find((d) => !before.has(d)), 60_000);
      const pid = await s.waitUntil('the trainer pid in run.json', async () => {
        const r = readRun(dir);
        return r.status === 'running' && r.pid ? r.pid : undefined;
      }, 60_000);
      process.kill(pid, 'SIGKILL');
      const toast = await s.waitForNotification(/crash/i, 60_000);
      assert.ok((await toast.locator('.monaco-button', { hasText: /Resume/ }).count()) > 0, 'the notification offers Resume');
      await s.waitUntil('the run shown crashed in the Runs tree', async () =>
        (await s.treeRows('Runs')).some((r) => /crashed/i.test(r)), 30_000);
      await s.screenshot('15-killed-trainer-crashed');
    }));

  test('no CSP violation in any webview of this session', guard('csp', async () => {
    assert.deepEqual(s.webviewCspViolations(), []);
    const checked = await s.calibrateCsp();
    process.stderr.write(`[e2e live] CSP counter checked in ${checked} webview(s)\n`);
  }));
});
