// URIs of read-only rollout documents: trapo-rollout:/<run name>/step <n>/<prompt id> · sample <k>?run=…&step=…&prompt=…&sample=…
// The path is for the tab title; the query carries what identifies the rollout.
import * as vscode from 'vscode';
import { ROLLOUT_DOCUMENT_SCHEME } from '../core/walkthroughSteps';

export const ROLLOUT_SCHEME = ROLLOUT_DOCUMENT_SCHEME;

export interface RolloutRef {
  runDir: string;
  step: number;
  promptId: string;
  sample: number;
}

export function rolloutUri(ref: RolloutRef, runName: string): vscode.Uri {
  const query = new URLSearchParams({ run: ref.runDir, step: String(ref.step), prompt: ref.promptId, sample: String(ref.sample) });
  const safe = (s: string) => s.replace(/[/\\?#]/g, '_');
  return vscode.Uri.from({
    scheme: ROLLOUT_SCHEME,
    path: `/${safe(runName)}/step ${ref.step}/${safe(ref.promptId)} · sample ${ref.sample}`,
    query: query.toString(),
  });
}

/** Throws an Error naming what is missing when the URI is not a rollout URI. */
export function parseRolloutUri(uri: vscode.Uri): RolloutRef {
  if (uri.scheme !== ROLLOUT_SCHEME) throw new Error(`not a rollout document: ${uri.toString()}`);
  const q = new URLSearchParams(uri.query);
  const runDir = q.get('run');
  const step = Number(q.get('step'));
  const promptId = q.get('prompt');
  const sample = Number(q.get('sample'));
  if (!runDir || promptId === null || !Number.isInteger(step) || !Number.isInteger(sample)) {
    throw new Error(`rollout URI lacks run, step, prompt or sample: ${uri.toString()}`);
  }
  return { runDir, step, promptId, sample };
}

/** Validates the argument of `trapo.openRollout` ({runDir, step, promptId, sample?}). */
export function toRolloutRef(arg: unknown): RolloutRef {
  const a = (typeof arg === 'object' && arg !== null ? arg : {}) as Record<string, unknown>;
  if (typeof a.runDir !== 'string' || !Number.isInteger(a.step) || typeof a.promptId !== 'string') {
    throw new Error('trapo.openRollout expects {runDir: string, step: integer, promptId: string, sample?: integer}');
  }
  const sample = a.sample === undefined ? 0 : a.sample;
  if (!Number.isInteger(sample)) throw new Error('trapo.openRollout: sample must be an integer');
  return { runDir: a.runDir, step: a.step as number, promptId: a.promptId, sample: sample as number };
}
