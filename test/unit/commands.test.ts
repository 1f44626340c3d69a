// The command ids of package.json equal the ones activate() registers (and COMMAND_IDS), and the menus name only
// declared commands. activate() runs against the vscode stub of test/helpers/vscodeStub.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fakeContext, installVscodeStub, registeredCommands } from '../helpers/vscodeStub';
import { tempDir } from '../helpers/runDir';
import { COMMAND_IDS } from '../../src/commandIds';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
const declared: string[] = pkg.contributes.commands.map((c: { command: string }) => c.command);

test('package.json declares each command once, and exactly COMMAND_IDS', () => {
  assert.equal(new Set(declared).size, declared.length, 'duplicate command ids in package.json');
  assert.deepEqual([...declared].sort(), [...COMMAND_IDS].sort());
});

test('activate() registers exactly the commands of package.json', async () => {
  installVscodeStub();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ext = require('../../src/extension') as typeof import('../../src/extension');
  const context = fakeContext(tempDir());
  ext.activate(context as never);
  try {
    assert.deepEqual([...registeredCommands].sort(), [...declared].sort());
  } finally {
    await ext.deactivate();
    for (const d of context.subscriptions.reverse()) d.dispose();
  }
});

test('every command named in menus and keybindings is declared', () => {
  const named = new Set<string>();
  for (const entries of Object.values(pkg.contributes.menus ?? {}) as { command?: string }[][]) {
    for (const e of entries) if (e.command) named.add(e.command);
  }
  for (const k of pkg.contributes.keybindings ?? []) named.add(k.command);
  for (const id of named) assert.ok(declared.includes(id), `${id} is in a menu but not declared`);
});

test('the Runs view context menus match the contextValues the tree gives run nodes', async () => {
  installVscodeStub();
  const { RunNode } = await import('../../src/trees/runsTree');
  const items: { when: string; command: string }[] = pkg.contributes.menus['view/item/context'];
  const commandsFor = (contextValue: string) =>
    items
      .filter((i) => i.when.includes('view == trapo.runs'))
      .filter((i) => {
        const eq = /viewItem == ([\w.]+)/.exec(i.when);
        const re = /viewItem =~ \/(.+)\/$/.exec(i.when);
        return eq ? eq[1] === contextValue : re ? new RegExp(re[1]).test(contextValue) : false;
      })
      .map((i) => i.command);
  const node = (status: string) =>
    new RunNode({
      id: 'x',
      dir: '/runs/x',
      status,
      info: { name: 'x', algorithm: 'trapo', device: 'cpu', world_size: 1, host: 'h' },
      crash: { crashed: false },
      step: 1,
      totalSteps: 2,
      lastReward: null,
      evals: [],
      anomalies: [],
      skipped: { malformed: 0, unknown: 0 },
      runStarted: null,
      finished: null,
      stepClock: { etaSeconds: () => null },
    } as never);
  assert.equal(node('running').contextValue, 'run.running');
  const running = commandsFor(node('running').contextValue!);
  assert.ok(running.includes('trapo.stopRun') && !running.includes('trapo.resumeRun') && !running.includes('trapo.deleteRun'));
  for (const s of ['stopped', 'failed', 'crashed']) {
    const cmds = commandsFor(node(s).contextValue!);
    assert.ok(cmds.includes('trapo.resumeRun') && cmds.includes('trapo.deleteRun') && !cmds.includes('trapo.stopRun'), s);
  }
  const finished = commandsFor(node('finished').contextValue!);
  assert.ok(finished.includes('trapo.openDashboard') && finished.includes('trapo.deleteRun') && !finished.includes('trapo.resumeRun'));
});
