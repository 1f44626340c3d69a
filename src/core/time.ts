// Step timing and ETA (pure). The rate is the median seconds per step over the last few completed steps, so that one
// slow step (an evaluation, a checkpoint save) or the gap of a resume does not swing the estimate.

export const ETA_WINDOW = 20;

/** Remembers when each new step was first seen; a bounded window of (step, time) pairs. */
export class StepClock {
  private readonly steps: number[] = [];
  private readonly times: number[] = [];

  constructor(private readonly window = ETA_WINDOW) {}

  /** Record that `step` was reached at unix time `time`. Steps that are not newer than the last one are ignored. */
  observe(step: number, time: number): void {
    const n = this.steps.length;
    if (n > 0 && step <= this.steps[n - 1]) return;
    this.steps.push(step);
    this.times.push(time);
    if (this.steps.length > this.window + 1) {
      this.steps.shift();
      this.times.shift();
    }
  }

  /** Forget the history (a resumed run restarts its clock; the downtime is not a step). */
  reset(): void {
    this.steps.length = 0;
    this.times.length = 0;
  }

  /** Median seconds per step over the window, or null with fewer than two observations. */
  secondsPerStep(): number | null {
    const rates: number[] = [];
    for (let i = 1; i < this.steps.length; i++) {
      const ds = this.steps[i] - this.steps[i - 1];
      const dt = this.times[i] - this.times[i - 1];
      if (ds > 0 && dt >= 0) rates.push(dt / ds);
    }
    return median(rates);
  }

  /** Seconds until `total` steps, or null when unknown. */
  etaSeconds(total: number | null): number | null {
    const n = this.steps.length;
    if (total === null || n === 0) return null;
    const remaining = total - this.steps[n - 1];
    if (remaining <= 0) return 0;
    const rate = this.secondsPerStep();
    return rate === null ? null : rate * remaining;
  }
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** 42 s, 3 m 05 s, 2 h 07 m, 3 d 4 h. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${String(m % 60).padStart(2, '0')} m`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}
