// package.json's activation, walkthrough and config-file contributions: the extension activates only where it is
// wanted, each walkthrough step completes on a context key the extension sets, and no second schema provider
// (jsonValidation/yamlValidation) doubles the completions and problems of src/config/; the Stop setting and the
// README tell one process from several.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { installVscodeStub } from '../helpers/vscodeStub';
import { COMMAND_IDS } from '../../src/commandIds';

const ROOT = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

test('activation: no window-start events; run folders, config files, the walkthrough', () => {
  const events: string[] = pkg.activationEvents;
  for (const e of events) assert.ok(e !== '*' && e !== 'onStartupFinished', `activates everywhere: ${e}`);
  for (const e of ['workspaceContains:runs/*/run.json', 'workspaceContains:**/*.trapo.{yaml,yml,json}', 'onWalkthrough:trapo.gettingStarted']) {
    assert.ok(events.includes(e), e);
  }
  assert.equal(pkg.contributes.jsonValidation, undefined);
  assert.equal(pkg.contributes.yamlValidation, undefined);
});

test('walkthrough: five steps, each completed by a context key the extension sets, with media and live links', async () => {
  installVscodeStub();
  const { WALKTHROUGH_KEYS } = await import('../../src/walkthrough');
  const { WALKTHROUGH_ID, walkthroughStepId } = await import('../../src/core/walkthroughSteps');
  const [w] = pkg.contributes.walkthroughs;
  assert.equal(w.id, WALKTHROUGH_ID);
  // The id welcome.markStepComplete takes: <publisher>.<name>#<walkthrough>#<step>, as VS Code builds it.
  assert.equal(walkthroughStepId(`${pkg.publisher}.${pkg.name}`, 'setUp'), 'trapo-lab.trapo#trapo.gettingStarted#setUp');
  assert.equal(`onWalkthrough:${w.id}`, 'onWalkthrough:trapo.gettingStarted');
  assert.deepEqual(
    w.steps.map((s: { id: string }) => s.id),
    Object.keys(WALKTHROUGH_KEYS),
  );
  for (const step of w.steps) {
    const key = WALKTHROUGH_KEYS[step.id as keyof typeof WALKTHROUGH_KEYS];
    assert.deepEqual(step.completionEvents, [`onContext:${key}`], step.id);
    assert.ok(fs.existsSync(path.join(ROOT, step.media.markdown)), step.media.markdown);
    const links = [...step.description.matchAll(/\(command:([\w.]+)/g)].map((m: RegExpMatchArray) => m[1]);
    assert.ok(links.length > 0, `${step.id} has a command link`);
    for (const c of links) {
      const ours = c.startsWith('trapo.') && !c.endsWith('.focus');
      assert.ok(!ours || (COMMAND_IDS as readonly string[]).includes(c), `${step.id}: ${c} is declared`);
    }
  }
  const start = w.steps.find((s: { id: string }) => s.id === 'startRun');
  const arg = /command:trapo\.startRun\?([^)]+)\)/.exec(start.description)![1];
  assert.deepEqual(JSON.parse(decodeURIComponent(arg)), { template: 'demo' });
});

test('Stop: the grace setting and the README say what a Stop does with one process and with several', () => {
  // trainer/trapo/stopping.py: one process drops the work in progress; several (torchrun) finish the step first.
  const grace: string = pkg.contributes.configuration.properties['trapo.stopGracePeriodSeconds'].description;
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const stop = /^- \*\*Stop\*\* \(SIGINT:[\s\S]*?(?=\n- )/m.exec(readme)?.[0].replace(/\s+/g, ' ');
  assert.ok(stop, "README's Stop bullet");
  for (const text of [grace, stop]) {
    assert.match(text, /with one process [^;]*drops the [^;]*within seconds/);
    assert.match(text, /with several \(torchrun\)[^;.]* finish[^;.]*the step in progress, an evaluation already under way included/);
  }
});

test('config files: one naming rule (*.trapo.yaml|yml|json) for activation, Start TRAPO Run and editor support', async () => {
  installVscodeStub();
  const { CONFIG_SELECTOR, isConfigDocument } = await import('../../src/config/configLanguage');
  const { CONFIG_GLOB } = await import('../../src/runs/startRun');
  assert.equal(CONFIG_GLOB, '**/*.trapo.{yaml,yml,json}');
  assert.deepEqual(CONFIG_SELECTOR, [{ pattern: CONFIG_GLOB }]);
  assert.ok((pkg.activationEvents as string[]).includes(`workspaceContains:${CONFIG_GLOB}`));
  const isConfig = (p: string) => isConfigDocument({ uri: { path: p } } as Parameters<typeof isConfigDocument>[0]);
  for (const p of ['/w/demo.trapo.yaml', '/w/a.trapo.yml', '/w/b.trapo.json']) assert.ok(isConfig(p), p);
  // What package.json's jsonValidation once matched (trapo*.json) is no config file: the README says how to name one.
  for (const p of ['/w/trapo.json', '/w/trapo-run.yaml', '/w/demo.trapo.yaml.bak', '/w/x.trapo.toml']) assert.ok(!isConfig(p), p);
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  assert.match(readme, /\*\*Config files\*\* \(`\*\.trapo\.yaml`, `\*\.trapo\.yml`, `\*\.trapo\.json`: the one naming rule/);
});
