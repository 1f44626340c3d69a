// The job settings quick pick of a Slurm submission: every setting with its value (defaults from trapo.slurm.*), one
// picked to change it for this job, Enter to go on. Each field is checked as it is typed.
import * as vscode from 'vscode';
import { SlurmJobOptions, directiveLine, parseSignalSpec, parseTimeLimit, validateJobOptions } from '../core/slurmScript';

type Field = Exclude<keyof SlurmJobOptions, never>;

interface OptionItem extends vscode.QuickPickItem {
  action?: 'go';
  field?: Field;
}

/** A one-line summary: "2 nodes × 8 processes · 8 GPUs/node · 04:00:00 · partition gpu". */
export function summarizeJobOptions(o: SlurmJobOptions): string {
  const parts = [`${o.nodes} node${o.nodes === 1 ? '' : 's'} × ${o.processesPerNode} process${o.processesPerNode === 1 ? '' : 'es'}`];
  if (o.gpusPerNode) parts.push(`${o.gpusPerNode} GPU${o.gpusPerNode === 1 ? '' : 's'}/node`);
  if (o.cpusPerTask) parts.push(`${o.cpusPerTask} CPUs/node`);
  parts.push(o.time ? `time ${o.time}` : 'default time');
  parts.push(o.partition ? `partition ${o.partition}` : 'default partition');
  if (o.requeue) parts.push('requeue');
  return parts.join(' · ');
}

const FIELD_LABELS: Record<Field, string> = {
  partition: 'Partition',
  account: 'Account',
  nodes: 'Nodes',
  gpusPerNode: 'GPUs per node',
  processesPerNode: 'Processes per node',
  cpusPerTask: 'CPUs per task',
  time: 'Time limit',
  extraDirectives: 'Extra #SBATCH lines',
  setupCommands: 'Setup commands',
  signal: 'Signal before the time limit',
  requeue: 'Requeue after a time-limit stop',
};

function fieldValue(o: SlurmJobOptions, f: Field): string {
  const v = o[f];
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (Array.isArray(v)) return v.length ? v.join(' ; ') : 'none';
  if (v === '' || v === 0) {
    return (
      {
        partition: 'cluster default',
        account: 'your default',
        time: "partition's default",
        signal: 'none',
        gpusPerNode: 'none',
        cpusPerTask: 'cluster default',
      }[f as string] ?? String(v)
    );
  }
  return String(v);
}

export async function editJobOptions(initial: SlurmJobOptions, title: string, review: boolean): Promise<SlurmJobOptions | undefined> {
  let o: SlurmJobOptions = { ...initial, extraDirectives: [...initial.extraDirectives], setupCommands: [...initial.setupCommands] };
  for (;;) {
    const problem = validateJobOptions(o);
    const items: OptionItem[] = [
      {
        label: review ? '$(file-code) Write the sbatch script' : '$(rocket) Submit to Slurm',
        description: summarizeJobOptions(o),
        detail: problem ? `$(error) ${problem}` : review ? 'You see the script before it is submitted.' : undefined,
        action: 'go',
      },
      { label: 'Job settings (defaults: trapo.slurm.*)', kind: vscode.QuickPickItemKind.Separator },
      ...(Object.keys(FIELD_LABELS) as Field[]).map((f) => ({ label: FIELD_LABELS[f], description: fieldValue(o, f), field: f })),
    ];
    const picked = await vscode.window.showQuickPick(items, {
      title,
      placeHolder: 'Enter goes on; pick a setting to change it for this job',
      ignoreFocusOut: true,
    });
    if (!picked) return undefined;
    if (picked.action === 'go') {
      if (!problem) return o;
      void vscode.window.showErrorMessage(`TRAPO: ${problem}`);
      continue;
    }
    if (picked.field) o = (await editField(o, picked.field)) ?? o;
  }
}

async function editField(o: SlurmJobOptions, f: Field): Promise<SlurmJobOptions | undefined> {
  const current = o[f];
  if (typeof current === 'boolean') return { ...o, [f]: !current };
  const list = Array.isArray(current);
  const value = await vscode.window.showInputBox({
    title: FIELD_LABELS[f],
    value: list ? (current as string[]).join(' ; ') : String(current),
    prompt: FIELD_PROMPTS[f],
    ignoreFocusOut: true,
    validateInput: (text) => fieldProblem(f, text),
  });
  if (value === undefined) return undefined;
  if (list)
    return {
      ...o,
      [f]: value
        .split(';')
        .map((x) => x.trim())
        .filter(Boolean),
    };
  if (typeof current === 'number') return { ...o, [f]: value.trim() === '' ? 0 : Number(value) };
  return { ...o, [f]: value.trim() };
}

const FIELD_PROMPTS: Record<Field, string> = {
  partition: "Empty: the cluster's default partition.",
  account: 'Empty: your default account.',
  nodes: 'Nodes of the job: one torchrun per node, meeting at the first node (c10d rendezvous).',
  gpusPerNode: '--gpus-per-node; 0: none asked for.',
  processesPerNode: 'Trainer processes per node (torchrun --nproc-per-node), usually the GPUs per node.',
  cpusPerTask: "CPUs for the one task per node (--cpus-per-task); 0: the cluster's default.",
  time: "Slurm time: minutes, HH:MM:SS or D-HH:MM:SS; empty: the partition's default.",
  extraDirectives: 'More sbatch options, separated by ";", e.g. --qos=high ; --mem=200G',
  setupCommands: 'Shell lines run before the trainer, separated by ";", e.g. module load cuda/12.4',
  signal: 'SIGNAL@SECONDS Slurm sends before the time limit (the trainer saves and stops); empty: none.',
  requeue: '',
};

function fieldProblem(f: Field, text: string): string | undefined {
  const t = text.trim();
  switch (f) {
    case 'nodes':
    case 'processesPerNode':
      return /^[1-9]\d*$/.test(t) ? undefined : 'a whole number of at least 1';
    case 'gpusPerNode':
    case 'cpusPerTask':
      return t === '' || /^\d+$/.test(t) ? undefined : 'a whole number (0: none)';
    case 'time':
      return t === '' || parseTimeLimit(t) !== undefined ? undefined : 'minutes, HH:MM:SS, D-HH or D-HH:MM:SS';
    case 'signal': {
      if (t === '') return undefined;
      const s = parseSignalSpec(t);
      return 'error' in s ? s.error : undefined;
    }
    case 'extraDirectives': {
      const bad = t
        .split(';')
        .map((x) => x.trim())
        .filter(Boolean)
        .find((x) => directiveLine(x) === null);
      return bad ? `"${bad}" is not an sbatch option (--name=value)` : undefined;
    }
    case 'partition':
    case 'account':
      return t === '' || /^[A-Za-z0-9_.,:+-]+$/.test(t) ? undefined : 'letters, digits and _ . , : + - only';
    case 'setupCommands':
    case 'requeue':
      return undefined;
    default: {
      const never: never = f;
      return String(never);
    }
  }
}
