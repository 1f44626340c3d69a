import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { buildLaunch, choosePython, makeRunId, configEngine, pythonCandidates, runNameFromConfigFile, venvPython } from '../../src/core/launch';

const base = { workspaceTrusted: true, configFile: '/ws/demo.trapo.yaml', runDir: '/ws/runs/R' };

test('python launcher: python -m trapo train --config --run-dir', () => {
  const r = buildLaunch({ ...base, python: '/venv/bin/python', launcher: 'python' });
  assert.ok(r.ok);
  assert.equal(r.launch.command, '/venv/bin/python');
  assert.deepEqual(r.launch.args, ['-m', 'trapo', 'train', '--config', '/ws/demo.trapo.yaml', '--run-dir', '/ws/runs/R']);
  assert.equal(r.launch.env.PYTHONUNBUFFERED, '1');
});

test('resume, max steps and overrides are appended in that order', () => {
  const r = buildLaunch({
    ...base,
    python: 'python3',
    launcher: 'python',
    resume: true,
    maxSteps: 5,
    overrides: { 'rl.group_size': '8', seed: '1' },
  });
  assert.ok(r.ok);
  assert.deepEqual(r.launch.args.slice(7), ['--resume', '--max-steps', '5', '--set', 'rl.group_size=8', '--set', 'seed=1']);
});

test('torchrun launcher with an explicit torchrun path', () => {
  const r = buildLaunch({ ...base, python: 'py', launcher: 'torchrun', torchrunPath: '/opt/bin/torchrun', processesPerNode: 4 });
  assert.ok(r.ok);
  assert.equal(r.launch.command, '/opt/bin/torchrun');
  assert.deepEqual(r.launch.args, ['--standalone', '--nproc-per-node=4', '-m', 'trapo', 'train', '--config', '/ws/demo.trapo.yaml', '--run-dir', '/ws/runs/R']);
});

test('torchrun launcher without a path runs torch.distributed.run of the chosen python', () => {
  const r = buildLaunch({ ...base, python: '/venv/bin/python', launcher: 'torchrun', processesPerNode: 2, resume: true });
  assert.ok(r.ok);
  assert.equal(r.launch.command, '/venv/bin/python');
  assert.deepEqual(r.launch.args.slice(0, 6), ['-m', 'torch.distributed.run', '--standalone', '--nproc-per-node=2', '-m', 'trapo']);
  assert.equal(r.launch.args.at(-1), '--resume');
});

test("resume without a config reuses the run's own config", () => {
  const r = buildLaunch({ workspaceTrusted: true, python: 'py', launcher: 'python', runDir: '/ws/runs/R', resume: true });
  assert.ok(r.ok);
  assert.deepEqual(r.launch.args, ['-m', 'trapo', 'train', '--run-dir', '/ws/runs/R', '--resume']);
  const noConfig = buildLaunch({ workspaceTrusted: true, python: 'py', launcher: 'python', runDir: '/ws/runs/R' });
  assert.match(!noConfig.ok ? noConfig.error : '', /No config file/);
});

test('an untrusted workspace spawns nothing', () => {
  const r = buildLaunch({ ...base, workspaceTrusted: false, python: 'python3', launcher: 'python' });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.error : '', /not trusted/);
});

test('bad inputs are refused with the reason', () => {
  const r1 = buildLaunch({ ...base, python: 'p', launcher: 'torchrun', processesPerNode: 0 });
  assert.match(!r1.ok ? r1.error : '', /processesPerNode must be a positive integer, got 0/);
  const r2 = buildLaunch({ ...base, python: 'p', launcher: 'python', overrides: { 'a;rm -rf': '1' } });
  assert.match(!r2.ok ? r2.error : '', /override key "a;rm -rf"/);
  const r3 = buildLaunch({ ...base, python: 'p', launcher: 'python', maxSteps: 1.5 });
  assert.match(!r3.ok ? r3.error : '', /maxSteps/);
});

test('python resolution order: setting > python extension > trapo venv > python3', () => {
  const all = { workspaceTrusted: true, setting: '/s/python', pythonExtension: '/ext/python', trapoVenv: '/g/venv/bin/python' };
  // An explicit setting is the only candidate.
  assert.deepEqual(pythonCandidates(all), [{ path: '/s/python', source: 'setting' }]);
  assert.deepEqual(
    pythonCandidates({ ...all, setting: '  ' }).map((c) => c.source),
    ['python-extension', 'trapo-venv', 'path'],
  );
  assert.deepEqual(
    pythonCandidates({ ...all, setting: '', pythonExtension: undefined }).map((c) => c.path),
    ['/g/venv/bin/python', 'python3'],
  );
});

test('untrusted workspace: the python setting (an executable) is ignored', () => {
  const c = pythonCandidates({ workspaceTrusted: false, setting: '/evil/python', pythonExtension: undefined, trapoVenv: undefined });
  assert.deepEqual(c, [{ path: 'python3', source: 'path' }]);
});

test('the same interpreter found twice is tried once', () => {
  const c = pythonCandidates({ workspaceTrusted: true, setting: '', pythonExtension: '/g/venv/bin/python', trapoVenv: '/g/venv/bin/python' });
  assert.deepEqual(
    c.map((x) => x.source),
    ['python-extension', 'path'],
  );
});

test('choosePython takes the first candidate that imports trapo and reports why the others failed', async () => {
  const cands = pythonCandidates({ workspaceTrusted: true, setting: '', pythonExtension: '/ext/python', trapoVenv: '/g/venv/bin/python' });
  const probed: string[] = [];
  const choice = await choosePython(cands, async (p) => {
    probed.push(p);
    return p === '/g/venv/bin/python' ? null : `No module named 'trapo'`;
  });
  assert.deepEqual(probed, ['/ext/python', '/g/venv/bin/python']); // python3 never probed
  assert.ok(choice.ok);
  assert.equal(choice.python.source, 'trapo-venv');
  const none = await choosePython(cands, async () => 'ENOENT');
  assert.equal(none.ok, false);
  assert.equal(!none.ok && none.tried.length, 3);
});

test('venv interpreter path per platform', () => {
  assert.equal(venvPython('/g/venv', 'linux'), path.join('/g/venv', 'bin', 'python'));
  assert.equal(venvPython('/g/venv', 'win32'), path.join('/g/venv', 'Scripts', 'python.exe'));
});

test('run ids sort by time and match the trainer format', () => {
  const id = makeRunId('my demo!', new Date(2026, 10, 25, 14, 25, 1), '3f9a'); // month 10 = November
  assert.equal(id, '20261125-142501-my-demo-3f9a'); // "my demo!" -> "my-demo-" -> trailing "-" stripped
  assert.match(id, /^[0-9]{8}-[0-9]{6}-[A-Za-z0-9_.-]+$/); // run.schema.json id pattern
  assert.ok(makeRunId('a', new Date(2026, 0, 2, 3, 4, 5), '0000') < id);
  assert.throws(() => makeRunId('a', new Date(), 'xyz'), /4 hex digits/);
  assert.equal(runNameFromConfigFile('/w/demo.trapo.yaml'), 'demo');
  assert.equal(runNameFromConfigFile('/w/qwen-7b.trapo.json'), 'qwen-7b');
});

test('rollout.engine vllm: the vLLM environment is tried first (after an explicit setting), else after the trapo venv', () => {
  const lookup = { workspaceTrusted: true, setting: '', pythonExtension: '/ext/python', trapoVenv: '/g/venv/bin/python', trapoVllmVenv: '/g/vllm/bin/python' };
  assert.deepEqual(
    pythonCandidates({ ...lookup, wantsVllm: true }).map((c) => c.source),
    ['trapo-vllm-venv', 'python-extension', 'trapo-venv', 'path'],
  );
  assert.deepEqual(
    pythonCandidates(lookup).map((c) => c.source),
    ['python-extension', 'trapo-venv', 'trapo-vllm-venv', 'path'],
  );
  assert.deepEqual(
    pythonCandidates({ ...lookup, setting: '/s/python', wantsVllm: true }).map((c) => c.source),
    ['setting'],
  );
  assert.equal(configEngine({ rollout: { engine: 'vllm' } }), 'vllm');
  assert.equal(configEngine({ rollout: { max_new_tokens: 8 } }), 'torch');
  assert.equal(configEngine(null), 'torch');
});
