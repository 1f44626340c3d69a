// Which checkpoints a run has on disk (no vscode): the trainer prunes them (checkpoint.keep_last), a person deletes
// them, and a save in progress is a temp folder. The views list what is there, and say where a Resume continues: the
// newest checkpoint folder with trainer state, as the trainer's latest_checkpoint picks it (trapo/checkpoint.py).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { runPaths } from './runFormat';

export interface CheckpointsOnDisk {
  /** Absolute paths of the checkpoint folders (checkpoints/<step>). */
  dirs: Set<string>;
  /** The newest step whose folder holds trainer state, or null. */
  resumeStep: number | null;
}

/** A stamp of checkpoints/ that changes when a folder is added, renamed or removed there ('missing': no folder). */
export async function checkpointsStamp(runDir: string): Promise<string> {
  try {
    return String((await fs.stat(path.join(runDir, 'checkpoints'))).mtimeMs);
  } catch {
    return 'missing';
  }
}

export async function readCheckpointsOnDisk(runDir: string): Promise<CheckpointsOnDisk> {
  const root = path.join(runDir, 'checkpoints');
  const dirs = new Set<string>();
  let resumeStep: number | null = null;
  let names: string[] = [];
  try {
    names = (await fs.readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory() || d.isSymbolicLink()).map((d) => d.name);
  } catch {
    return { dirs, resumeStep };
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue; // .000010.tmp-123: a save in progress
    const dir = path.join(root, name);
    dirs.add(dir);
    const step = Number(name);
    if ((resumeStep === null || step > resumeStep) && (await isFile(runPaths.trainerState(dir)))) resumeStep = step;
  }
  return { dirs, resumeStep };
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}
