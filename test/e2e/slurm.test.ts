// Runs on Slurm from VS Code, against a real one-node Slurm (scripts/slurm-local.sh, started here when Slurm does not
// answer and stopped after when it was started here): Start TRAPO Run with trapo.launcher slurm shows the job
// settings quick pick and the sbatch script before it submits; the Runs tree and the status bar show the job
// pending (with Slurm's reason) then running; Stop is scancel --signal=INT (the trainer saves); Resume submits a new
// job on the same run directory that continues from the checkpoint; a job killed with scancel --signal=KILL is shown
// crashed with the Slurm state.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { DEMO_CONFIG, Session, guarded, startSession } from './harness';
import { SKIP_SLURM, ensureSlurm, runCommand, stopSlurmIfOurs } from '../helpers/slurmCluster';

const MIN = 60_000;

/** The demo config made small enough for a busy 2-core machine: no warm-up, no evaluations, 2 prompts a step. */
function smallDemo(): string {
  const c = yaml.load(fs.readFileSync(DEMO_CONFIG, 'utf8')) as Record<string, Record<string, unknown>>;
  c.name = 'slurm-demo' as never;
  c.model = { ...c.model, warmup: { enabled: false } };
  c.data = { ...c.data, train_size: 32, benchmark_size: 2 };
  c.rollout = { ...c.rollout, max_new_tokens: 12 };
  c.train = { ...c.train, steps: 2000, prompts_per_step: 2, micro_batch_size: 8, threads: 1 };
  c.eval = { ...c.eval, every: 0, at_start: false };
  c.checkpoint = { ...c.checkpoint, every: 0, onnx: false };
  c.logging = { ...c.logging, heartbeat_s: 2, token_stats: false };
  return yaml.dump(c);
}

interface Launch {
  jobs: { job_id: string; script: string; reason: string }[];
}

describe('runs on Slurm from VS Code', { skip: SKIP_SLURM }, () => {
  let s: Session;
  let blocker = '';
  const guard = (name: string, fn: () => Promise<void>) =>
    guarded(
      () => s,
      `slurm-${name}`,
      async () => {
        try {
          await fn();
        } catch (e) {
          await printDiagnostics().catch((d) => process.stderr.write(`[e2e slurm] diagnostics failed: ${String(d)}\n`));
          throw e;
        }
      },
    );
  /** On a failure: what the run, its logs, Slurm and the window said (CI keeps no scratch folder to look at later). */
  const printDiagnostics = async () => {
    const out: string[] = [];
    const tail = (file: string, n = 40) => {
      try {
        out.push(`--- ${path.basename(file)} (last ${n} lines)`, ...fs.readFileSync(file, 'utf8').split('\n').slice(-n));
      } catch {
        out.push(`--- ${path.basename(file)}: absent`);
      }
    };
    const d = runDir();
    if (d) {
      const info = runJson();
      out.push(`run.json: status ${info?.status} step ${info?.step}`, `launch.json: ${JSON.stringify(launch()?.jobs ?? [])}`);
      tail(path.join(d, 'logs', 'trainer.log'));
      for (const f of fs.readdirSync(path.join(d, 'logs')).filter((f) => /^slurm-\d+\.out$/.test(f))) tail(path.join(d, 'logs', f), 30);
      tail(path.join(d, 'events.jsonl'), 8);
    }
    for (const [cmd, args] of [
      ['squeue', ['-a', '-o', '%i %j %T %r %M']],
      ['sacct', ['-a', '-X', '-n', '-o', 'JobID,JobName,State,ExitCode,Elapsed']],
    ] as const) {
      const r = await runCommand(cmd, [...args]);
      out.push(`--- ${cmd}`, r.stdout.trim(), r.stderr.trim());
    }
    out.push(
      `--- toasts: ${JSON.stringify(await s.notifications().catch(() => []))}`,
      `--- status bar: ${JSON.stringify(await s.statusBarTexts().catch(() => []))}`,
    );
    // Every notification of the session (toasts hide, the notification centre keeps them).
    const centre = await (async () => {
      await s.runCommand('Notifications: Show Notifications', { query: 'Notifications: Show Notifications', attempts: 2 });
      const items = s.page.locator('.notifications-center .notification-list-item-message');
      await items.first().waitFor({ state: 'visible', timeout: 5000 });
      return (await items.allTextContents()).map((t) => t.trim());
    })().catch((e) => [`(not read: ${String(e)})`]);
    out.push(`--- notification centre: ${JSON.stringify(centre)}`);
    out.push(`--- Runs row: ${await rowText()}`);
    process.stderr.write(out.map((l) => `[e2e slurm] ${l}`).join('\n') + '\n');
  };
  const runDir = () => {
    const root = path.join(s.workspace, 'runs');
    const d = fs.existsSync(root) ? fs.readdirSync(root).find((n) => fs.existsSync(path.join(root, n, 'launch.json'))) : undefined;
    return d ? path.join(root, d) : undefined;
  };
  const readJson = <T>(file: string): T | undefined => {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
    } catch {
      return undefined;
    }
  };
  const launch = () => readJson<Launch>(path.join(runDir()!, 'launch.json'));
  const runJson = () => readJson<{ status: string; step: number | null }>(path.join(runDir()!, 'run.json'));
  const row = () => s.treeRow('Runs', 'slurm-demo');
  const rowText = async () =>
    (
      (await row()
        .textContent()
        .catch(() => '')) ?? ''
    ).replace(/\s+/g, ' ');
  /** Picks the row of the job settings quick pick whose label starts with `label`. */
  const pickSetting = async (label: string) => s.pickQuickPick(new RegExp(`^\\s*(\\$\\([\\w-]+\\)\\s*)?${label}`), '');
  /** The quick pick's rows as shown (label and description). */
  const pickRows = async () => {
    const rows = s.page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
    await rows.first().waitFor({ state: 'visible', timeout: 15_000 });
    return (await rows.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
  };
  // The verb picks this review's toast: the first review, answered from the editor's title bar, leaves its toast on
  // screen (VS Code cannot hide a notification), and on a fast machine it is still there when the Resume review shows.
  const reviewToast = (verb: 'starts' | 'resumes') => s.waitForNotification(new RegExp(`this sbatch script ${verb} slurm-demo`), 30_000);
  const submitFromNotification = async (verb: 'starts' | 'resumes') => {
    const toast = await reviewToast(verb);
    await toast.locator('.monaco-button', { hasText: 'Submit to Slurm' }).click();
  };
  /** The Submit to Slurm button in the title bar of the script's editor (it stays when the notification hides). */
  const submitFromEditorTitle = async () => {
    const button = s.page.locator('.editor-group-container.active .editor-actions .action-label[aria-label^="Submit to Slurm"]').first();
    await button.waitFor({ state: 'visible', timeout: 30_000 });
    await button.click();
  };

  before(async () => {
    const up = ensureSlurm();
    process.stderr.write(`[e2e slurm] one-node Slurm ${up.started ? 'started' : 'already running'} (${up.seconds.toFixed(1)} s)\n`);
    s = await startSession({
      label: 'slurm',
      demoConfig: false,
      workspaceFiles: { 'slurm-demo.trapo.yaml': smallDemo() },
      settings: {
        'trapo.launcher': 'slurm',
        'trapo.processesPerNode': 2,
        'trapo.slurm.cpusPerTask': 2,
        'trapo.slurm.pollIntervalSeconds': 3,
        'trapo.stopGracePeriodSeconds': 600,
      },
      env: process.env.SLURM_CONF ? { SLURM_CONF: process.env.SLURM_CONF } : {},
    });
    await s.openTrapoContainer();
  });
  after(async () => {
    if (blocker) await runCommand('scancel', [blocker]);
    const d = s && runDir();
    for (const j of (d && launch()?.jobs) || []) await runCommand('scancel', ['--signal=KILL', j.job_id]);
    await s?.close();
    stopSlurmIfOurs();
  });

  test(
    'Start TRAPO Run on Slurm: job settings, the script reviewed, submitted; pending with the reason, then running',
    guard('start', async () => {
      // A job that holds both CPUs of the node, so that ours waits (Resources) until it is cancelled.
      const b = await runCommand('sbatch', ['--parsable', '-c', '2', '-J', 'blocker', '-o', '/dev/null', '--wrap', 'sleep 900']);
      blocker = b.stdout.trim();
      assert.match(blocker, /^\d+$/, b.stderr);
      await s.runCommand('TRAPO: Start TRAPO Run', { query: 'Start TRAPO run' });
      await s.pickQuickPick('slurm-demo.trapo.yaml');
      const rows = await s.waitUntil(
        'the job settings quick pick',
        async () => {
          const r = await pickRows();
          return r.some((x) => /Write the sbatch script/.test(x)) ? r : undefined;
        },
        30_000,
      );
      assert.ok(
        rows.some((r) => /1 node × 2 processes · 2 CPUs\/node/.test(r)),
        rows.join(' | '),
      );
      assert.ok(
        rows.some((r) => /Processes per node\s*2/.test(r)),
        rows.join(' | '),
      );
      await s.screenshot('20-slurm-job-settings');
      // Change the time limit for this job: the input box, then back to the settings.
      await pickSetting('Time limit');
      const input = s.page.locator('.quick-input-widget input.input');
      await input.fill('30');
      await input.press('Enter');
      await s.waitUntil('the summary with the new time', async () => (await pickRows()).some((r) => /time 30 ·/.test(r)), 15_000);
      await pickSetting('Write the sbatch script');
      await reviewToast('starts');
      // The editor shows the script's top (its #SBATCH lines); the whole file is in the run directory.
      const shown = await s.waitUntil(
        'the script in an editor',
        async () => {
          const t = await s.activeEditorText();
          return /#SBATCH --time=30/.test(t) ? t : undefined;
        },
        30_000,
      );
      assert.match(shown, /#SBATCH --cpus-per-task=2/);
      assert.equal(await s.activeEditorTitle(), 'job-1.sbatch');
      const root = path.join(s.workspace, 'runs');
      const script = fs.readFileSync(path.join(root, fs.readdirSync(root)[0], 'slurm', 'job-1.sbatch'), 'utf8');
      assert.match(script, /^srun --ntasks-per-node=1 --kill-on-bad-exit=1 "\$PYTHON" -m torch\.distributed\.run/m);
      assert.match(script, /--nproc-per-node=2/);
      assert.match(script, /--rdzv-backend=c10d/);
      assert.ok(!fs.existsSync(path.join(root, fs.readdirSync(root)[0], 'launch.json')), 'nothing is submitted before the user says so');
      await s.screenshot('21-slurm-script-review');
      await submitFromEditorTitle();
      const dir = await s.waitUntil('launch.json with the job', async () => (runDir() && launch()?.jobs.length === 1 ? runDir() : undefined), 60_000);
      const jobId = launch()!.jobs[0].job_id;
      assert.ok(fs.existsSync(path.join(dir, launch()!.jobs[0].script)), 'the script lives in the run directory');
      // The review's notification outlives an answer from the title bar (VS Code cannot hide it); its Submit button
      // then says so and submits nothing. Clicked in the notification centre, where it stays however long the toast shows.
      await s.runCommand('Notifications: Show Notifications', { query: 'Notifications: Show Notifications' });
      const centre = s.page.locator('.notifications-center .notification-list-item');
      const stale = centre.filter({ hasText: /this sbatch script starts slurm-demo/ }).first();
      await stale.waitFor({ state: 'visible', timeout: 15_000 });
      await stale.click();
      await stale.locator('.monaco-button', { hasText: 'Submit to Slurm' }).click();
      await s.waitUntil(
        'the stale review saying it did nothing',
        async () => (await centre.filter({ hasText: /review of job-1\.sbatch was already answered; nothing was done/ }).count()) > 0,
        15_000,
      );
      assert.equal(launch()!.jobs.length, 1, 'the stale notification submitted nothing');
      await s.runCommand('Notifications: Hide Notifications', { query: 'Notifications: Hide Notifications' });
      await s.page.locator('.notifications-center.visible').waitFor({ state: 'hidden', timeout: 10_000 });
      // Pending: the tree's row and the status bar say so, with Slurm's reason.
      await s.waitUntil('the run pending in the Runs tree', async () => /job \d+ pending \((Resources|Priority)\)/.test(await rowText()), 60_000);
      assert.equal(await s.rowIcon(row()), 'clock');
      await s.waitUntil('pending in the status bar', async () => (await s.statusBarTexts()).some((t) => /TRAPO slurm-demo job \d+ pending/.test(t)), 30_000);
      await s.screenshot('22-slurm-pending');
      await runCommand('scancel', [blocker]);
      blocker = '';
      // Running: the status bar counts steps, the row shows the job running.
      await s.waitUntil('a step in the status bar', async () => (await s.statusBarTexts()).some((t) => /TRAPO [1-9]\d*\/2000/.test(t)), 15 * MIN, 2000);
      assert.match(await rowText(), new RegExp(`job ${jobId} running`));
      assert.equal(await s.rowIcon(row()), 'sync');
      await s.screenshot('23-slurm-running');
    }),
  );

  test(
    'Stop (scancel --signal=INT) saves and stops; Resume submits a new job that continues; scancel --signal=KILL shows it crashed',
    guard('stop-resume-kill', async () => {
      const dir = runDir()!;
      await s.runCommand('TRAPO: Stop Run', { query: 'TRAPO Stop Run' });
      await s.waitUntil('run.json says stopped', async () => runJson()?.status === 'stopped', 10 * MIN, 1000);
      const stoppedAt = runJson()!.step!;
      assert.ok(fs.existsSync(path.join(dir, 'checkpoints', String(stoppedAt).padStart(6, '0'))), `checkpoint of step ${stoppedAt}`);
      await s.waitUntil('the run shown stopped', async () => (await s.rowIcon(row())) === 'debug-stop', 60_000);
      await s.waitForNotification(/slurm-demo: it saved and stopped/, 60_000);
      await s.rowAction(row(), 'Resume Run');
      await pickSetting('Write the sbatch script');
      await submitFromNotification('resumes');
      await s.waitUntil('a second job in launch.json', async () => launch()?.jobs.length === 2, 60_000);
      const second = launch()!.jobs[1];
      assert.equal(second.reason, 'resume');
      assert.equal(second.script, 'slurm/job-2.sbatch');
      await s.waitUntil(
        `a step beyond ${stoppedAt}`,
        async () =>
          (await s.statusBarTexts()).some((t) => {
            const m = /TRAPO (\d+)\/2000/.exec(t);
            return m !== null && Number(m[1]) > stoppedAt;
          }),
        15 * MIN,
        2000,
      );
      const events = fs
        .readFileSync(path.join(dir, 'events.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        events.filter((e) => e.type === 'run_started').map((e) => e.resumed_from_step),
        [null, stoppedAt],
      );
      const k = await runCommand('scancel', ['--signal=KILL', `${second.job_id}.0`]);
      assert.equal(k.code, 0, k.stderr);
      await s.waitUntil('the run shown crashed', async () => (await s.rowIcon(row())) === 'warning', 3 * MIN);
      const toast = await s.waitForNotification(/crashed/, 60_000);
      // The trainer ran on this host: its dead pid may be seen before the monitor's next squeue/sacct, and the toast
      // names what was seen first; the run's row then shows the job's Slurm state.
      assert.match(await toast.innerText(), new RegExp(`Slurm job ${second.job_id} ended FAILED while the trainer was running|process \\d+ on \\S+ is gone`));
      await s.waitUntil(
        `the row naming job ${second.job_id} failed`,
        async () => new RegExp(`job ${second.job_id} failed`).test(await row().innerText()),
        2 * MIN,
      );
      await s.screenshot('24-slurm-killed-crashed');
    }),
  );
});
