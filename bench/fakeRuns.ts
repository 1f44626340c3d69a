// Writes synthetic run directories (trapo-run/1) for the dashboard benchmarks and the render check: run.json and an
// events.jsonl with metrics, prefix-level shares and evaluations that look like a training run. Not a test.
import { mkdirSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mulberry32 } from '../src/core/bootstrap';

/** The trainer's metric names (docs/algorithm.md §8), and filler names in a few more namespaces up to `count`. */
export function metricNames(count: number): string[] {
  const base = [
    'loss/total',
    'loss/trsft',
    'loss/policy',
    'loss/entropy',
    'reward/unguided_mean',
    'reward/mean',
    'prefix/level_0',
    'prefix/level_1',
    'prefix/level_2',
    'prefix/level_3',
    'prefix/mean_ratio',
    'trsft/outside_trust_region',
    'groups/all_correct',
    'groups/all_wrong',
    'response/mean_length',
    'response/clip_ratio',
    'policy/entropy',
    'optim/grad_norm',
    'optim/lr',
    'perf/step_s',
    'perf/rollout_s',
    'perf/train_s',
    'perf/tokens_per_s',
  ];
  const names = base.slice(0, count);
  for (let i = 0; names.length < count; i++) names.push(`extra${i % 4}/metric_${i}`);
  return names;
}

/** Deterministic pseudo-random numbers: the PRNG the bootstrap uses. */
export const rng = mulberry32;

/** Metric values of one step: noisy curves of a plausible shape. */
export function fakeMetrics(names: string[], step: number, total: number, rand: () => number, runIndex = 0): Record<string, number> {
  const p = step / Math.max(1, total);
  const noise = (s: number) => (rand() - 0.5) * s;
  const reward = Math.min(1, Math.max(0, 0.15 + 0.6 * (1 - Math.exp(-4 * p)) + 0.05 * runIndex + noise(0.2)));
  // Guidance shifts from level 3 (full solution) towards level 0 (no prefix) as the policy improves.
  const l0 = Math.min(1, 0.1 + 0.7 * p + noise(0.1));
  const rest = 1 - Math.max(0, l0);
  const l3 = rest * Math.max(0, 0.6 - 0.4 * p + noise(0.1));
  const l2 = (rest - l3) * 0.6;
  const l1 = rest - l3 - l2;
  const out: Record<string, number> = {};
  for (const n of names) {
    let v: number;
    switch (n) {
      case 'loss/total':
        v = 1.2 * Math.exp(-3 * p) + 0.2 + noise(0.15);
        break;
      case 'loss/trsft':
        v = 0.8 * Math.exp(-2 * p) + noise(0.1);
        break;
      case 'loss/policy':
        v = noise(0.02);
        break;
      case 'loss/entropy':
        v = -0.001 * (1 + noise(0.5));
        break;
      case 'reward/unguided_mean':
        v = Math.max(0, reward - 0.1);
        break;
      case 'reward/mean':
        v = reward;
        break;
      case 'prefix/level_0':
        v = Math.max(0, l0);
        break;
      case 'prefix/level_1':
        v = Math.max(0, l1);
        break;
      case 'prefix/level_2':
        v = Math.max(0, l2);
        break;
      case 'prefix/level_3':
        v = Math.max(0, l3);
        break;
      case 'prefix/mean_ratio':
        v = 0.6 * (1 - p) + noise(0.05);
        break;
      case 'optim/lr':
        v = 1e-5 * Math.min(1, step / 50);
        break;
      case 'optim/grad_norm':
        v = 1 + noise(0.6) + (rand() < 0.003 ? 20 : 0);
        break;
      case 'response/mean_length':
        v = 200 + 300 * p + noise(40);
        break;
      case 'perf/tokens_per_s':
        v = 4000 + noise(500);
        break;
      default:
        v = Math.sin(step / 200 + n.length) + noise(0.3);
    }
    out[n] = Number(v.toPrecision(6));
  }
  return out;
}

export interface FakeRunOptions {
  root: string;
  index: number;
  steps: number;
  metrics: number;
  status?: 'running' | 'finished';
  evalEvery?: number;
  stepSeconds?: number;
  /** Unix seconds of the run's creation. */
  createdAt?: number;
  /** The comparison's shape: this algorithm and seed (run.json config, name `<algorithm>-seed<seed>`). */
  algorithm?: string;
  seed?: number;
  /** optim.lr in the config of a run of the comparison's shape (default 3e-4). */
  lr?: number;
}

/** The seven algorithms of the comparison (7 x 3 seeds = 21 runs). */
export const COMPARISON_ALGORITHMS = ['sft', 'grpo', 'sft_then_rl', 'luffy', 'prefix_context', 'prefix_sft', 'trapo'];

export function runId(index: number): string {
  return `20261120-${String(100000 + index).slice(1)}-bench-${String(index).padStart(4, '0')}`;
}

/** Writes run.json and events.jsonl; returns the run directory. */
export function writeFakeRun(o: FakeRunOptions): string {
  const id = runId(o.index);
  const dir = path.join(o.root, id);
  mkdirSync(dir, { recursive: true });
  const createdAt = o.createdAt ?? 1795000000 + o.index * 3600;
  const dt = o.stepSeconds ?? 2.5;
  const running = o.status === 'running';
  const algorithm = o.algorithm ?? ['trapo', 'grpo', 'luffy'][o.index % 3];
  const name = o.seed !== undefined ? `${algorithm}-seed${o.seed}` : `bench-${o.index} ${algorithm}`;
  const config = o.seed !== undefined ? { algorithm, seed: o.seed, optim: { lr: o.lr ?? 3e-4 }, train: { steps: o.steps, threads: 1 } } : {};
  const info = {
    format: 'trapo-run/1.1',
    id,
    name,
    algorithm,
    created_at: createdAt,
    config,
    status: running ? 'running' : 'finished',
    pid: running ? process.pid : null,
    host: os.hostname(),
    trainer_version: 'bench',
    world_size: 1,
    device: 'cpu',
    total_steps: o.steps,
    step: running ? 0 : o.steps,
  };
  writeFileSync(path.join(dir, 'run.json'), JSON.stringify(info, null, 2));
  const names = metricNames(o.metrics);
  const rand = rng(1000 + o.index);
  const fd = openSync(path.join(dir, 'events.jsonl'), 'w');
  let buf =
    JSON.stringify({
      v: 1,
      type: 'run_started',
      time: createdAt,
      step: 0,
      config: {},
      total_steps: o.steps,
      model: { name: 'tiny', parameters: 812544 },
      device: 'cpu',
      world_size: 1,
      resumed_from_step: null,
    }) + '\n';
  const benches = ['arith_easy', 'arith_medium', 'arith_hard'];
  for (let s = 1; s <= o.steps; s++) {
    const t = createdAt + s * dt;
    buf += JSON.stringify({ v: 1, type: 'metrics', time: t, step: s, values: fakeMetrics(names, s, o.steps, rand, o.index) }) + '\n';
    if (o.evalEvery && s % o.evalEvery === 0) {
      const p = s / o.steps;
      const benchmarks: Record<string, unknown> = {};
      let sum = 0;
      benches.forEach((b, k) => {
        const acc = Math.min(1, Math.max(0, 0.7 - 0.25 * k + 0.25 * (1 - Math.exp(-3 * p)) + (rand() - 0.5) * 0.05));
        sum += acc;
        benchmarks[b] = { accuracy: Number(acc.toFixed(4)), n: 100, samples_per_problem: 4, file: `evals/${String(s).padStart(6, '0')}/${b}.jsonl` };
      });
      buf += JSON.stringify({ v: 1, type: 'eval', time: t + 1, step: s, benchmarks, average: Number((sum / benches.length).toFixed(4)) }) + '\n';
    }
    if (buf.length > 1 << 20) {
      writeSync(fd, buf);
      buf = '';
    }
  }
  if (!running)
    buf += JSON.stringify({ v: 1, type: 'run_finished', time: createdAt + (o.steps + 1) * dt, step: o.steps, status: 'finished', error: null }) + '\n';
  writeSync(fd, buf);
  closeSync(fd);
  return dir;
}
