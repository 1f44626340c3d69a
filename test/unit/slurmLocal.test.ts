// The one-node Slurm of the tests is shared by every session on the machine (/tmp/trapo-slurm, ports 6817/6818):
// the machine-wide lock the Slurm suites hold (test/helpers/slurmCluster.ts), and when they are skipped instead of
// failing (scripts/slurm-local.sh can-start: not root, no apt-get; TRAPO_REQUIRE_SLURM=1 makes them mandatory).
// Nothing here starts Slurm or installs anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/runDir';

process.env.TRAPO_SKIP_SLURM = '1'; // importing the helper asks whether the suites run: not needed here
const helper = () => import('../helpers/slurmCluster');
const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'slurm-local.sh');
const which = (cmd: string) => spawnSync('bash', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
const hasFlock = which('flock') !== '';

/** Whether another process can take the lock on `file` at once. */
const free = (file: string) => spawnSync('flock', ['--nonblock', file, 'true']).status === 0;

test(
  'the Slurm lock is held from takeSlurmLock to releaseSlurmLock, and waited for while another session holds it',
  { skip: !hasFlock && 'no flock(1)' },
  async () => {
    const { takeSlurmLock, releaseSlurmLock } = await helper();
    const file = path.join(tempDir(), 'trapo-slurm.lock');
    takeSlurmLock(file, 5);
    try {
      assert.equal(free(file), false, 'held after the flock command that took it has exited');
      takeSlurmLock(file, 5); // taken already by this process: a no-op, not a deadlock
    } finally {
      releaseSlurmLock();
    }
    assert.equal(free(file), true, 'given back');

    // another session holds it: wait, then refuse with the reason
    // its own process group, so that its sleep (which holds the lock) ends with it
    const other = spawn('flock', [file, 'sleep', '60'], { stdio: 'ignore', detached: true });
    try {
      const t0 = Date.now();
      while (free(file)) {
        assert.ok(Date.now() - t0 < 10_000, 'the other holder never took the lock');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.throws(() => takeSlurmLock(file, 1), /the Slurm lock .*trapo-slurm\.lock was not free within 1 s/);
      assert.equal(free(file), false, "still the other session's");
    } finally {
      process.kill(-other.pid!, 'SIGTERM');
    }
  },
);

function fakeBin(withAptGet: boolean): string {
  // only what can-start needs, so that no Slurm command is found
  const bin = tempDir();
  for (const cmd of ['bash', 'id']) fs.symlinkSync(which(cmd), path.join(bin, cmd));
  if (withAptGet) fs.writeFileSync(path.join(bin, 'apt-get'), '#!/bin/sh\necho "apt-get must not run here" >&2; exit 1\n', { mode: 0o755 });
  return bin;
}

test('can-start: skipped with one line naming why where no one-node Slurm can run; not skipped where it can', async () => {
  const { slurmSkipReason } = await helper();
  const root = process.getuid?.() === 0;
  const env = (bin: string, extra: Record<string, string> = {}) => ({ PATH: bin, HOME: tempDir(), TRAPO_SLURM_DIR: tempDir(), ...extra });

  const bare = fakeBin(false);
  const r = spawnSync(path.join(bare, 'bash'), [SCRIPT, 'can-start'], { encoding: 'utf8', env: env(bare) });
  assert.equal(r.status, 3, r.stderr);
  const line = r.stdout.trim();
  assert.equal(line.split('\n').length, 1, 'one line');
  assert.match(line, root ? /Slurm packages are missing \(munge slurmctld slurmd slurm-client\) and there is no apt-get/ : /^not root/);

  const reason = slurmSkipReason(env(bare));
  assert.equal(reason, `no one-node Slurm on this machine: ${line} (TRAPO_REQUIRE_SLURM=1 makes the Slurm tests mandatory)`);
  assert.equal(slurmSkipReason(env(bare, { TRAPO_REQUIRE_SLURM: '1' })), false, 'mandatory: the suite runs (and fails with the reason)');
  assert.equal(slurmSkipReason(env(bare, { TRAPO_SKIP_SLURM: '1' })), 'TRAPO_SKIP_SLURM=1');

  // root with apt-get (CI: root, Debian): the suite runs, installing what is missing itself
  const debian = fakeBin(true);
  const d = spawnSync(path.join(debian, 'bash'), [SCRIPT, 'can-start'], { encoding: 'utf8', env: env(debian) });
  if (root) {
    assert.equal(d.status, 0, d.stdout + d.stderr);
    assert.equal(slurmSkipReason(env(debian)), false);
  } else {
    assert.equal(d.status, 3);
    assert.match(d.stdout, /^not root/);
  }
});
