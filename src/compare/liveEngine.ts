// Which engine answers a Compare panel's live prompt (setting trapo.compare.liveEngine):
//   auto     onnxruntime-node in process when both checkpoints have model.onnx (the embedded tiny model's: measured
//            faster there, and no Python to start; bench/live-prompt.ts), else the trainer's service (any checkpoint,
//            the run's device) when a Python that can import trapo is found;
//   service  the trainer's service only;    onnx  onnxruntime-node only.
// The service is `python -m trapo serve`, spawned where the extension host runs: under Remote-SSH that is the remote
// machine with the run and its GPU, and only JSON lines of text cross to the window. It always generates with the
// torch engine, also for a run trained with rollout.engine: vllm: a vLLM engine per checkpoint, each reserving the
// run's rollout.vllm.gpu_memory_utilization of the GPU, would not fit twice in one process, and vLLM's batch call
// returns the whole answer at once where the torch engine streams it token by token. (Evaluate Checkpoint does use
// the run's engine: evaluateCheckpoint.ts.)
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { LiveBackend, ServiceBackend } from '../core/liveSession';
import { ServeClient } from '../core/serveClient';
import type { CompareSide, LiveInfo, PromptMode, Side } from '../shared/compareProtocol';
import { describeFailedChoice, findTrainerPython } from '../runs/python';
import { readSettings } from '../runs/settings';
import { OrtBackend } from './ortBackend';
import { runEngineOf } from './runConfigOf';

export type LiveEngineSetting = 'auto' | 'service' | 'onnx';

export interface LiveChoice {
  info: LiveInfo;
  /** Makes the backend (once, on the panel's first use of the live prompt). */
  backend?: () => LiveBackend;
}

const SERVICE_MODES: PromptMode[] = ['training', 'chat', 'raw'];
const ONNX_MODES: PromptMode[] = ['chat', 'raw'];

/** The service's command line after the Python: the torch engine always (see the top of this file). */
export const SERVE_ARGS = ['-m', 'trapo', 'serve', '--device', 'auto', '--engine', 'torch'] as const;

/** What the panel says answers the live prompt through the service, naming the torch engine for a vLLM run. */
export function serviceNote(python: string, runEngines: readonly ('torch' | 'vllm')[]): string {
  const base = `the trainer's Python (${python}), where the run is, on its GPU when there is one, with the torch engine`;
  if (!runEngines.includes('vllm')) return base;
  return `${base} (the run generated with vLLM in training; the live prompt does not: two vLLM engines would not fit beside each other, and the torch engine streams token by token)`;
}

function unavailable(reason: string): LiveChoice {
  return { info: { engine: null, unavailable: reason, note: '', promptModes: [] } };
}

export function liveEngineSetting(): LiveEngineSetting {
  const v = vscode.workspace.getConfiguration('trapo').get<string>('compare.liveEngine', 'auto');
  return v === 'service' || v === 'onnx' ? v : 'auto';
}

export async function chooseLiveEngine(
  context: vscode.ExtensionContext,
  dirs: Record<Side, string>,
  sides: Record<Side, CompareSide>,
  output: vscode.OutputChannel,
): Promise<LiveChoice> {
  const setting = liveEngineSetting();
  const missing = (['a', 'b'] as const).filter((s) => !sides[s].hasCheckpoint);
  if (missing.length) {
    const which = missing.map((s) => `${s.toUpperCase()} (${sides[s].label})`).join(' and ');
    return unavailable(`The live prompt needs both checkpoints on disk; ${which} has no checkpoint folder (never saved, or deleted by checkpoint.keep_last).`);
  }
  const bothOnnx = sides.a.hasOnnx && sides.b.hasOnnx;
  const onnx = (): LiveChoice => ({
    info: { engine: 'onnx', unavailable: null, note: 'onnxruntime-node in VS Code (model.onnx of each checkpoint; no Python)', promptModes: ONNX_MODES },
    backend: () => new OrtBackend(dirs),
  });
  const noOnnx = () => {
    const without = (['a', 'b'] as const).filter((s) => !sides[s].hasOnnx).map((s) => `${s.toUpperCase()} (${sides[s].label})`);
    return `${without.join(' and ')} has no model.onnx (exported only for small models: python -m trapo export-onnx <checkpoint>)`;
  };
  if (setting === 'onnx') return bothOnnx ? onnx() : unavailable(`The live prompt is set to onnxruntime-node (trapo.compare.liveEngine), but ${noOnnx()}.`);
  if (setting === 'auto' && bothOnnx) return onnx();
  if (!vscode.workspace.isTrusted) {
    return unavailable(
      "The live prompt runs the checkpoints with the trainer's Python, which is not started in an untrusted workspace. Trust the workspace to use it.",
    );
  }
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(dirs.a));
  const cwd = folder?.uri.fsPath ?? path.dirname(dirs.a);
  const settings = readSettings();
  // torch, whatever the runs' rollout.engine: the torch environment, or the vLLM one (which has torch too)
  const { choice } = await findTrainerPython(context, settings.pythonPath, vscode.Uri.file(dirs.a), cwd, 'torch');
  if (!choice.ok) {
    return unavailable(
      `The live prompt needs a Python that can import the trainer (tried ${describeFailedChoice(choice)}). Run TRAPO: Set Up Trainer Environment, or set trapo.pythonPath` +
        (bothOnnx ? '.' : `; without Python only checkpoints with model.onnx can answer, and ${noOnnx()}.`),
    );
  }
  const python = choice.python.path;
  const start = () => {
    output.appendLine(`[live prompt] starting ${python} ${SERVE_ARGS.join(' ')} (in ${cwd})`);
    const proc = spawn(python, [...SERVE_ARGS], {
      cwd,
      env: { ...process.env, PYTHONUNBUFFERED: '1', TOKENIZERS_PARALLELISM: 'false' },
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    return ServeClient.start(proc, { onLog: (line) => output.appendLine(`[serve ${proc.pid ?? '?'}] ${line}`) });
  };
  const labels = { a: sides.a.label, b: sides.b.label };
  return {
    info: {
      engine: 'service',
      unavailable: null,
      note: serviceNote(python, [runEngineOf(sides.a.runDir), runEngineOf(sides.b.runDir)]),
      promptModes: SERVICE_MODES,
    },
    backend: () => new ServiceBackend(start, dirs, labels),
  };
}
