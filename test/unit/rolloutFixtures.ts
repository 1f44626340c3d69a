// Fixture builders for rollout tests (not a test file itself).
import type { RolloutRecord } from '../../src/core/runFormat';

export function rollout(over: Partial<RolloutRecord> = {}): RolloutRecord {
  return {
    step: 3,
    prompt_id: 'p0',
    sample: 0,
    stage: 0,
    level: 0,
    prompt: 'What is 2 + 3?',
    prefix: '',
    completion: 'The answer is \\boxed{5}',
    reward: 1,
    advantage: 0.5,
    answer: '5',
    extracted: '5',
    sft_owner: false,
    prefix_ratio: 0,
    ...over,
  };
}

/** As the Python writer writes it: compact separators, UTF-8, one object a line. */
export function line(r: RolloutRecord): string {
  return JSON.stringify(r) + '\n';
}
