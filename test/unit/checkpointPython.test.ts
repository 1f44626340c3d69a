// Which Python acts on a run's checkpoints (issue 19): Evaluate Checkpoint uses the run's rollout.engine (the vLLM
// environment for a vllm run, as Start and Resume do: `trapo eval` refuses a vllm run without vLLM), while the live
// prompt's service always runs the torch engine and says so for a vLLM run. Fake Pythons in a fake global storage
// stand for the two environments of "Set Up Trainer Environment": the torch one answers the vLLM probe with "no vLLM".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { installVscodeStub, fakeContext, workspace } from '../helpers/vscodeStub';
import { tempDir, writeRunJson } from '../helpers/runDir';

installVscodeStub();
workspace.getWorkspaceFolder = () => undefined; // the runs lie outside any workspace folder

function fakePython(file: string, hasVllm: boolean): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // probeTrapo runs `python -c CODE`; CODE names vllm only when it asks whether vLLM is installed (exit 3: it is not)
  fs.writeFileSync(file, `#!/bin/sh\ncase "$2" in *vllm*) exit ${hasVllm ? 0 : 3};; esac\necho 0.1.0\n`, { mode: 0o755 });
  return file;
}

function setup() {
  const storage = tempDir();
  const torchPy = fakePython(path.join(storage, 'trainer-venv', 'bin', 'python'), false);
  const vllmPy = fakePython(path.join(storage, 'trainer-venv-vllm', 'bin', 'python'), true);
  const runs = tempDir();
  const mkRun = (id: string, engine: 'torch' | 'vllm' | undefined) => {
    const dir = path.join(runs, id);
    writeRunJson(dir, { id, status: 'finished' });
    const file = path.join(dir, 'run.json');
    const info = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (engine) info.config.rollout = { engine };
    fs.writeFileSync(file, JSON.stringify(info));
    return dir;
  };
  return { context: fakeContext(storage) as never, torchPy, vllmPy, runs, mkRun };
}

test('Evaluate Checkpoint finds the vLLM environment for a vllm run and the torch one otherwise', async () => {
  const { evaluationPython } = await import('../../src/compare/evaluateCheckpoint');
  const { context, torchPy, vllmPy, runs, mkRun } = setup();
  const vllmRun = mkRun('20261125-142501-v-0001', 'vllm');
  const torchRun = mkRun('20261125-142502-t-0002', 'torch');
  const plainRun = mkRun('20261125-142503-p-0003', undefined);
  const v = await evaluationPython(context, vllmRun, runs);
  assert.equal(v.engine, 'vllm', "the engine is read from the run's run.json");
  assert.ok(v.choice.ok && v.choice.python.path === vllmPy, `a vllm run is evaluated with the vLLM environment, got ${JSON.stringify(v.choice)}`);
  for (const dir of [torchRun, plainRun]) {
    const t = await evaluationPython(context, dir, runs);
    assert.equal(t.engine, 'torch');
    assert.ok(t.choice.ok && t.choice.python.path === torchPy, `a torch run is evaluated with the torch environment, got ${JSON.stringify(t.choice)}`);
  }
});

test('Evaluate Checkpoint of a vllm run with no vLLM environment refuses with the reason (and offers the vLLM set-up)', async () => {
  const { evaluationPython } = await import('../../src/compare/evaluateCheckpoint');
  const { context, runs, mkRun } = setup();
  fs.rmSync(path.join((context as { globalStorageUri: { fsPath: string } }).globalStorageUri.fsPath, 'trainer-venv-vllm'), { recursive: true });
  const PATH = process.env.PATH;
  process.env.PATH = tempDir(); // no python3 on PATH either
  try {
    const r = await evaluationPython(context, mkRun('20261125-142504-v-0004', 'vllm'), runs);
    assert.equal(r.engine, 'vllm');
    assert.equal(r.choice.ok, false, 'the torch environment does not qualify for a vllm run');
    if (!r.choice.ok)
      assert.ok(
        r.choice.tried.some((t) => /vLLM is not installed there/.test(t.problem)),
        JSON.stringify(r.choice.tried),
      );
  } finally {
    process.env.PATH = PATH;
  }
});

test("the live prompt's service runs the torch engine, also for a vllm run, and the panel says so", async () => {
  const { chooseLiveEngine, SERVE_ARGS } = await import('../../src/compare/liveEngine');
  const { context, torchPy, mkRun } = setup();
  const output = { appendLine: () => undefined } as never;
  const side = (runDir: string, step: number) => ({ label: `${path.basename(runDir)} @ ${step}`, runDir, step, hasOnnx: false, hasCheckpoint: true });
  const vllmRun = mkRun('20261125-142505-v-0005', 'vllm');
  const torchRun = mkRun('20261125-142506-t-0006', 'torch');
  const ck = (dir: string) => {
    const d = path.join(dir, 'checkpoints', '000010');
    fs.mkdirSync(d, { recursive: true });
    return d;
  };

  const mixed = await chooseLiveEngine(context, { a: ck(vllmRun), b: ck(torchRun) }, { a: side(vllmRun, 10), b: side(torchRun, 10) }, output);
  assert.equal(mixed.info.engine, 'service', mixed.info.unavailable ?? '');
  assert.ok(mixed.info.note.includes(`(${torchPy})`), `the torch environment is used: ${mixed.info.note}`);
  assert.match(mixed.info.note, /with the torch engine \(the run generated with vLLM in training; the live prompt does not/);

  const plain = await chooseLiveEngine(context, { a: ck(torchRun), b: ck(torchRun) }, { a: side(torchRun, 10), b: side(torchRun, 10) }, output);
  assert.match(plain.info.note, /with the torch engine$/);
  assert.doesNotMatch(plain.info.note, /vLLM/);
  assert.deepEqual(SERVE_ARGS.slice(-2), ['--engine', 'torch'], 'the service is told the torch engine, not left to its default');
});
