// A run's resolved config (its run.json `config`) for the commands that act on a run's checkpoints: the run store's
// copy, else run.json read from disk (a run the store has not listed yet, or a store not ready).
import { readFileSync } from 'node:fs';
import { configEngine } from '../core/launch';
import { parseRunInfo, runPaths } from '../core/runFormat';
import { getRunStore } from '../services';

export function runConfigOf(runDir: string): Record<string, unknown> {
  let fromStore: Record<string, unknown> | undefined;
  try {
    fromStore = getRunStore().getByDir(runDir)?.info.config;
  } catch {
    // the store is not ready: read run.json
  }
  if (fromStore) return fromStore;
  try {
    return parseRunInfo(readFileSync(runPaths.runJson(runDir), 'utf8')).config ?? {};
  } catch {
    return {}; // no readable run.json: the trainer says what is wrong with the run when it starts
  }
}

/** The rollout engine the run generated with in training (rollout.engine; torch when absent). */
export function runEngineOf(runDir: string): 'torch' | 'vllm' {
  return configEngine(runConfigOf(runDir));
}
