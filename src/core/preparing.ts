// How a run's preparation before its first step (trainer `phase` events: model load, the tiny model's warm-up, data)
// is shown: "preparing 40%" in the Runs tree and the status bar, the phase and its message in tooltips. No vscode.
import type { PhaseEvent, PreparePhase } from './runFormat';
import type { RunState } from './runStore';

export function phaseLabel(phase: PreparePhase): string {
  switch (phase) {
    case 'load_model':
      return 'loading the model';
    case 'warmup':
      return 'warming up the tiny model';
    case 'load_data':
      return 'loading data';
    default: {
      const never: never = phase;
      return String(never);
    }
  }
}

/** "preparing 40%", or "preparing" when the trainer cannot tell how far it is. */
export function preparingText(p: PhaseEvent): string {
  return p.fraction === null ? 'preparing' : `preparing ${Math.floor(p.fraction * 100)}%`;
}

/** "warming up the tiny model: step 600 of at most 1500". */
export function preparingDetail(p: PhaseEvent): string {
  return p.message ? `${phaseLabel(p.phase)}: ${p.message}` : phaseLabel(p.phase);
}

/** The preparation of a running run, or null (finished runs, and runs past run_started, are not preparing). */
export function preparingOf(run: Pick<RunState, 'status' | 'preparing'>): PhaseEvent | null {
  return run.status === 'running' ? run.preparing : null;
}
