// Writes run directories in the trapo-run/1 layout for tests (a TypeScript twin of the Python RunWriter, only what
// tests need). Lines are written exactly as the writer does: compact JSON, one a line.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary folder, removed when the test process exits. */
export function tempDir(prefix = 'trapo-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

export interface RunJsonOptions {
  id: string;
  status?: 'running' | 'finished' | 'failed' | 'stopped';
  pid?: number | null;
  host?: string;
  created_at?: number;
  updated_at?: number;
  total_steps?: number | null;
  step?: number | null;
  algorithm?: string;
}

export function writeRunJson(dir: string, o: RunJsonOptions): void {
  fs.mkdirSync(dir, { recursive: true });
  const info = {
    format: 'trapo-run/1',
    id: o.id,
    name: o.id.split('-').slice(2, -1).join('-') || 'run',
    algorithm: o.algorithm ?? 'trapo',
    created_at: o.created_at ?? 1000,
    updated_at: o.updated_at ?? o.created_at ?? 1000,
    config: { algorithm: o.algorithm ?? 'trapo' },
    status: o.status ?? 'running',
    pid: o.pid === undefined ? 999999 : o.pid,
    host: o.host ?? 'test-host',
    trainer_version: '0.1.0',
    world_size: 1,
    device: 'cpu',
    total_steps: o.total_steps ?? null,
    step: o.step ?? null,
  };
  // Atomic like the writer: temp file then rename.
  const tmp = path.join(dir, `.run.json.tmp-${process.pid}`);
  fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n');
  fs.renameSync(tmp, path.join(dir, 'run.json'));
}

export function ev(type: string, time: number, step: number | null, payload: Record<string, unknown>): string {
  return JSON.stringify({ v: 1, type, time, step, ...payload }) + '\n';
}

export const events = {
  runStarted: (time: number, total: number, resumed: number | null = null) =>
    ev('run_started', time, resumed, {
      config: {},
      total_steps: total,
      model: { name: 'tiny', parameters: 1000 },
      device: 'cpu',
      world_size: 1,
      resumed_from_step: resumed,
    }),
  metrics: (time: number, step: number, values: Record<string, number>) => ev('metrics', time, step, { values }),
  heartbeat: (time: number, step: number | null, phase = 'train') => ev('heartbeat', time, step, { phase }),
  prefix: (time: number, step: number, levels: number[]) =>
    ev('prefix_allocation', time, step, {
      prompts: levels.map((level, i) => ({
        prompt_id: `p${i}`,
        level,
        stages: [{ n: 4, ratio: 0, guided: false, correct: level === 0 ? 2 : 0, correct_before: 0 }],
      })),
    }),
  rollouts: (time: number, step: number, count: number) => ev('rollouts', time, step, { file: `rollouts/${String(step).padStart(6, '0')}.jsonl`, count }),
  evalEv: (time: number, step: number, acc: Record<string, number>) =>
    ev('eval', time, step, {
      benchmarks: Object.fromEntries(
        Object.entries(acc).map(([k, a]) => [k, { accuracy: a, n: 10, samples_per_problem: 1, file: `evals/${String(step).padStart(6, '0')}/${k}.jsonl` }]),
      ),
      average: Object.values(acc).reduce((s, a) => s + a, 0) / Object.keys(acc).length,
    }),
  checkpoint: (time: number, step: number) => ev('checkpoint', time, step, { path: `checkpoints/${String(step).padStart(6, '0')}`, onnx: null, bytes: 123 }),
  log: (time: number, message: string) => ev('log', time, null, { level: 'info', message }),
  anomaly: (time: number, step: number, kind: string, message: string) =>
    ev('anomaly', time, step, { kind, message, metric: 'response/clip_ratio', value: 1, threshold: 0.9 }),
  finished: (time: number, status: 'finished' | 'failed' | 'stopped', step: number | null = null) => ev('run_finished', time, step, { status, error: null }),
};

export function append(dir: string, text: string): void {
  fs.appendFileSync(path.join(dir, 'events.jsonl'), text);
}
