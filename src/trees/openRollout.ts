// Opening a prompt's rollouts from the Prefix Allocation view: the one place that decides how. When the rollouts
// feature implements `trapo.openRollout` (rollout documents), it is used; otherwise the rollout file opens at the
// prompt's first line.
import { promises as fs } from 'node:fs';
import * as vscode from 'vscode';
import { findRolloutLine } from '../core/rolloutLine';
import { runPaths } from '../core/runFormat';
import type { RunState } from '../core/runStore';

export const OPEN_ROLLOUT_COMMAND = 'trapo.openRollout';

export async function openPromptRollouts(
  run: RunState,
  step: number,
  promptId: string,
  rolloutDocuments: boolean,
): Promise<void> {
  if (rolloutDocuments) {
    await vscode.commands.executeCommand(OPEN_ROLLOUT_COMMAND, { runDir: run.dir, step, promptId, sample: 0 });
    return;
  }
  await openRolloutFileAtPrompt(run, step, promptId);
}

/** Opens rollouts/<step>.jsonl at the prompt's first rollout line. */
export async function openRolloutFileAtPrompt(run: RunState, step: number, promptId: string): Promise<void> {
  const file = run.rolloutFiles.find((r) => r.step === step)?.file ?? runPaths.rollouts(run.dir, step);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    void vscode.window.showWarningMessage(
      `TRAPO: step ${step} of ${run.info.name} has no rollout file (${file}); rollouts are written every logging.rollouts_every steps.`,
    );
    return;
  }
  const line = Math.max(0, findRolloutLine(text, promptId));
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
  const pos = new vscode.Position(line, 0);
  await vscode.window.showTextDocument(doc, { preview: true, selection: new vscode.Range(pos, pos) });
}
