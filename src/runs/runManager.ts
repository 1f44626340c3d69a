// Spawning, stopping and resuming trainer processes (vscode adapter).
// - The child runs in the workspace folder, in its own process group (so that Stop reaches torchrun's workers too).
// - Its stdout and stderr are appended to <run dir>/logs/trainer.log, which an output channel per run follows.
// - Stop: SIGINT (the trainer drops the work in progress it can drop, saves its last finished step and ends
//   "stopped"), SIGTERM once its heartbeat has stopped for the grace period (the trainer stops now), SIGKILL after as
//   long again (src/core/stopProcess.ts). Runs started elsewhere on this host are stopped through their pid from
//   run.json the same way.
// - On deactivate the children are stopped unless `trapo.keepTrainersRunningOnExit` is set.
import { ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { LaunchCommand } from '../core/launch';
import { LineTail } from '../core/tail';
import { isPidAliveOnThisHost } from '../core/crash';
import { StopOptions, StopOutcome, escalateStop } from '../core/stopProcess';
import type { RunState } from '../core/runStore';

export interface SpawnRequest {
  /** Run id (the run directory's name). */
  runId: string;
  runDir: string;
  cwd: string;
  launch: LaunchCommand;
  /** "start" or "resume", for the messages. */
  reason: 'start' | 'resume';
}

interface Child {
  runId: string;
  runDir: string;
  process: ChildProcess;
  channel: vscode.OutputChannel;
  /** Follows logs/trainer.log into the output channel. */
  follower: LineTail;
  followTimer: NodeJS.Timeout | undefined;
  exited: Promise<number | null>;
  stopping: boolean;
  /** Last lines of output, for the error message when it fails before writing a run directory. */
  tail: string[];
}

export type StopResult = { kind: 'done'; outcome: StopOutcome } | { kind: 'refused'; reason: string };

export class RunManager implements vscode.Disposable {
  private readonly children = new Map<string, Child>();
  private readonly channels = new Map<string, vscode.OutputChannel>();
  private readonly exitEmitter = new vscode.EventEmitter<{ runId: string; runDir: string; code: number | null; lastLines: string[] }>();
  /** Fires when a child this manager started exits. */
  readonly onDidExit = this.exitEmitter.event;

  constructor(private readonly getGraceSeconds: () => number) {}

  isManaged(runId: string): boolean {
    return this.children.has(runId);
  }

  /**
   * Resolves true once the child of this run has exited (or when there is none), false after `ms` milliseconds.
   * A trainer writes its last run.json (stopped, finished) a moment before its process is gone.
   */
  async waitForExit(runId: string, ms: number): Promise<boolean> {
    const child = this.children.get(runId);
    if (!child) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const gone = new Promise<true>((resolve) => {
      const sub = this.onDidExit((e) => {
        if (e.runId === runId) {
          sub.dispose();
          resolve(true);
        }
      });
      if (!this.children.has(runId)) {
        sub.dispose();
        resolve(true);
      }
    });
    try {
      return await Promise.race([gone, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The last line the child printed (for progress messages). */
  lastLine(runId: string): string | undefined {
    const tail = this.children.get(runId)?.tail;
    return tail?.[tail.length - 1];
  }

  channelFor(runId: string): vscode.OutputChannel | undefined {
    return this.channels.get(runId);
  }

  spawn(req: SpawnRequest): ChildProcess {
    if (this.children.has(req.runId)) throw new Error(`run ${req.runId} is already running from this window`);
    const logFile = path.join(req.runDir, 'logs', 'trainer.log');
    mkdirSync(path.dirname(logFile), { recursive: true });
    let channel = this.channels.get(req.runId);
    if (!channel) {
      channel = vscode.window.createOutputChannel(`TRAPO ${req.runId}`);
      this.channels.set(req.runId, channel);
    }
    const out = channel;
    const header = `[trapo] ${new Date().toISOString()} ${req.reason}: ${[req.launch.command, ...req.launch.args].map(quote).join(' ')}\n`;
    appendFileSync(logFile, header);
    // The trainer writes straight into logs/trainer.log (not through a pipe to us): its output keeps going there
    // when VS Code closes and the trainer is let run on, and a pipe closing cannot break it. The output channel
    // follows the file.
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(req.launch.command, req.launch.args, {
        cwd: req.cwd,
        env: { ...process.env, ...req.launch.env },
        detached: process.platform !== 'win32', // own process group: signals reach torchrun's workers
        stdio: ['ignore', fd, fd],
        windowsHide: true,
      });
    } finally {
      closeSync(fd);
    }
    const follower = new LineTail(logFile);
    const entry: Child = {
      runId: req.runId,
      runDir: req.runDir,
      process: child,
      channel: out,
      follower,
      followTimer: undefined,
      stopping: false,
      tail: [],
      exited: Promise.resolve(null),
    };
    const follow = async () => {
      try {
        for (;;) {
          const { lines, more } = await follower.poll();
          for (const line of lines) {
            out.appendLine(line);
            if (line.trim()) entry.tail.push(line.trim());
          }
          if (entry.tail.length > 20) entry.tail.splice(0, entry.tail.length - 20);
          if (!more) break;
        }
      } catch {
        // The log vanished (run deleted): nothing more to follow.
      }
    };
    entry.followTimer = setInterval(() => void follow(), 250);
    entry.exited = new Promise((resolve) => {
      child.on('error', (err) => {
        const line = `[trapo] could not start ${req.launch.command}: ${err.message}`;
        out.appendLine(line);
        entry.tail.push(line);
        resolve(null);
      });
      child.on('exit', (code, signal) => {
        const line = `[trapo] trainer exited with ${code !== null ? `code ${code}` : `signal ${signal}`}\n`;
        try {
          appendFileSync(logFile, line);
        } catch {
          // The run directory is gone.
        }
        resolve(code);
      });
    });
    this.children.set(req.runId, entry);
    void entry.exited.then(async (code) => {
      clearInterval(entry.followTimer);
      await follow();
      this.children.delete(req.runId);
      this.exitEmitter.fire({ runId: req.runId, runDir: req.runDir, code, lastLines: [...entry.tail] });
    });
    return child;
  }

  /**
   * Stops a run: ours through its process group, another process on this host through the pid of run.json.
   * Resolves when the process is gone (or could not be reached: the message says why).
   */
  async stop(run: Pick<RunState, 'id' | 'info'>, how: Pick<StopOptions, 'signOfLife' | 'now' | 'quietMs'> = {}): Promise<StopResult> {
    const grace = this.getGraceSeconds() * 1000;
    const child = this.children.get(run.id);
    if (child) {
      if (child.stopping) return { kind: 'refused', reason: 'it is already stopping' };
      child.stopping = true;
      const pid = child.process.pid;
      if (pid === undefined) return { kind: 'refused', reason: 'the trainer had not started' };
      return { kind: 'done', outcome: await escalateStop((sig) => signalGroup(pid, sig), child.exited, grace, how) };
    }
    const pid = run.info.pid;
    if (pid === null || run.info.host !== os.hostname()) {
      return { kind: 'refused', reason: `the trainer runs on ${run.info.host}${pid !== null ? ` (pid ${pid})` : ''}: stop it there` };
    }
    if (!isPidAliveOnThisHost(pid)) return { kind: 'done', outcome: 'already-stopped' };
    const gone = pollUntilGone(pid);
    try {
      return { kind: 'done', outcome: await escalateStop((sig) => signalPid(pid, sig), gone.promise, grace, how) };
    } finally {
      gone.cancel();
    }
  }

  /** Children still running (for deactivate). */
  get running(): number {
    return this.children.size;
  }

  /**
   * On deactivate: stop every child (SIGINT, then SIGTERM and SIGKILL quickly: VS Code gives deactivate a few
   * seconds). With keepRunning, detach them instead.
   */
  async shutdown(keepRunning: boolean): Promise<void> {
    const children = [...this.children.values()];
    if (keepRunning) {
      for (const c of children) {
        clearInterval(c.followTimer);
        c.process.unref();
        try {
          appendFileSync(path.join(c.runDir, 'logs', 'trainer.log'), `[trapo] VS Code closed; the trainer runs on (trapo.keepTrainersRunningOnExit)\n`);
        } catch {
          // The run directory is gone.
        }
      }
      return;
    }
    await Promise.all(
      children.map((c) => {
        const pid = c.process.pid;
        if (pid === undefined) return Promise.resolve();
        return escalateStop((sig) => signalGroup(pid, sig), c.exited, 1500, 1000);
      }),
    );
  }

  dispose(): void {
    this.exitEmitter.dispose();
    for (const ch of this.channels.values()) ch.dispose();
    this.channels.clear();
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(process.platform === 'win32' ? pid : -pid, sig);
    return true;
  } catch {
    return signalPid(pid, sig);
  }
}

function signalPid(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

function pollUntilGone(pid: number): { promise: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      if (!isPidAliveOnThisHost(pid)) {
        clearInterval(timer);
        resolve();
      }
    }, 250);
  });
  return { promise, cancel: () => clearInterval(timer) };
}

function quote(s: string): string {
  return /^[A-Za-z0-9_./=:@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
