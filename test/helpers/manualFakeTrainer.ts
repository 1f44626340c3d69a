// Manual check of RunManager's process handling with a fake trainer (node): output into logs/trainer.log and the
// output channel, Stop escalation, and keep-running detach. `node --import tsx test/helpers/manualFakeTrainer.ts`
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { installVscodeStub } from './vscodeStub';

installVscodeStub();

async function main() {
  const { RunManager } = await import('../../src/runs/runManager');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'trapo-fake-'));
  const runDir = path.join(root, 'R');
  const manager = new RunManager(() => 0.5);
  const script =
    "console.log('hello'); console.error('warn line'); process.on('SIGINT', () => { console.log('got SIGINT, saving'); setTimeout(() => process.exit(0), 100); }); setInterval(() => console.log('tick'), 100);";
  const exits: unknown[] = [];
  manager.onDidExit((e) => exits.push(e));
  const child = manager.spawn({ runId: 'R', runDir, cwd: root, launch: { command: process.execPath, args: ['-e', script], env: {} }, reason: 'start' });
  await new Promise((r) => setTimeout(r, 800));
  console.log('last line while running:', manager.lastLine('R'));
  const r = await manager.stop({ id: 'R', info: { pid: child.pid ?? null, host: os.hostname() } as never });
  console.log('stop:', JSON.stringify(r));
  await new Promise((r2) => setTimeout(r2, 300));
  const log = fs
    .readFileSync(path.join(runDir, 'logs', 'trainer.log'), 'utf8')
    .trim()
    .split('\n');
  console.log('log:', log.length, 'lines; first:', log[0].slice(0, 60), '| has stderr:', log.includes('warn line'), '| last two:', log.slice(-2));
  console.log('exit event:', JSON.stringify(exits));
  // keep running: the child survives shutdown and keeps writing its log
  const c2 = manager.spawn({
    runId: 'K',
    runDir: path.join(root, 'K'),
    cwd: root,
    launch: { command: process.execPath, args: ['-e', "setInterval(() => console.log('still here'), 100)"], env: {} },
    reason: 'start',
  });
  await manager.shutdown(true);
  await new Promise((r2) => setTimeout(r2, 500));
  const size1 = fs.statSync(path.join(root, 'K', 'logs', 'trainer.log')).size;
  await new Promise((r2) => setTimeout(r2, 500));
  const size2 = fs.statSync(path.join(root, 'K', 'logs', 'trainer.log')).size;
  console.log('kept-running child alive and logging after shutdown(true):', size2 > size1);
  process.kill(-(c2.pid as number), 'SIGKILL');
  // shutdown(false) stops children
  const c3 = manager.spawn({
    runId: 'S',
    runDir: path.join(root, 'S'),
    cwd: root,
    launch: { command: process.execPath, args: ['-e', "process.on('SIGINT',()=>{}); setInterval(() => {}, 100)"], env: {} },
    reason: 'start',
  });
  await new Promise((r2) => setTimeout(r2, 300));
  const t = Date.now();
  await manager.shutdown(false);
  let alive = true;
  try {
    process.kill(c3.pid as number, 0);
  } catch {
    alive = false;
  }
  console.log(`shutdown(false) stopped a SIGINT-ignoring child in ${Date.now() - t} ms; alive: ${alive}`);
  manager.dispose();
  fs.rmSync(root, { recursive: true, force: true });
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
