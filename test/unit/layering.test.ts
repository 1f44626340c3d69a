// The layering rules of eslint.config.mjs fire on planted violations, and clean code passes. Each case lints a
// snippet with the repo's own config (ESLint's Node API, lintText with the path the snippet would have), with the
// type-aware rules switched off: they need a TypeScript program (seconds to build) and no layering rule uses types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

const ROOT = path.join(__dirname, '..', '..');
const eslint = new ESLint({ cwd: ROOT, overrideConfig: tseslint.configs.disableTypeChecked });

/** The rule ids (with their messages) ESLint reports for `code` as the file `file` (relative to the repo). */
async function findings(file: string, code: string): Promise<{ rule: string | null; message: string }[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result.messages.map((m) => ({ rule: m.ruleId, message: m.message }));
}

async function assertOnly(file: string, code: string, rule: string, messagePart?: string): Promise<void> {
  const got = await findings(file, code);
  assert.ok(got.length > 0, `${file}: expected ${rule}, got nothing`);
  for (const f of got) assert.equal(f.rule, rule, `${file}: ${f.rule}: ${f.message}`);
  if (messagePart)
    assert.ok(
      got.some((f) => f.message.includes(messagePart)),
      `${file}: ${JSON.stringify(got)}`,
    );
}

test('src/core never imports vscode, not even its types', async () => {
  await assertOnly('src/core/planted.ts', "import * as vscode from 'vscode';\nexport const w = vscode.window;\n", 'no-restricted-imports');
  await assertOnly('src/core/planted.ts', "import type { Uri } from 'vscode';\nexport type U = Uri;\n", 'no-restricted-imports');
});

test('src/shared never imports vscode', async () => {
  await assertOnly('src/shared/planted.ts', "import { Uri } from 'vscode';\nexport const u = Uri;\n", 'no-restricted-imports');
});

test('src/core imports only src/core and src/shared', async () => {
  await assertOnly(
    'src/core/planted.ts',
    "import { readSettings } from '../runs/settings';\nexport const s = readSettings;\n",
    'import-x/no-restricted-paths',
    'src/core imports only',
  );
});

test('src/shared imports only src/shared, and no Node built-ins (the webviews bundle it)', async () => {
  await assertOnly(
    'src/shared/planted.ts',
    "import { formatDuration } from '../core/time';\nexport const f = formatDuration;\n",
    'import-x/no-restricted-paths',
  );
  await assertOnly('src/shared/planted.ts', "import * as fs from 'node:fs';\nexport const r = fs.readFileSync;\n", 'import-x/no-nodejs-modules');
});

test('a webview imports only src/shared, its own folder and npm packages', async () => {
  await assertOnly(
    'webview/dashboard/planted.ts',
    "import { RunStore } from '../../src/core/runStore';\nexport const s = RunStore;\n",
    'import-x/no-restricted-paths',
    'A webview sees only src/shared',
  );
  await assertOnly(
    'webview/dashboard/planted.ts',
    "import { COMMAND_IDS } from '../../src/commandIds';\nexport const c = COMMAND_IDS;\n",
    'import-x/no-restricted-paths',
  );
  await assertOnly(
    'webview/compare/planted.ts',
    "import { toolbar } from '../dashboard/chartTools';\nexport const t = toolbar;\n",
    'import-x/no-restricted-paths',
    'its own folder',
  );
});

test('an import cycle is found, a type-only one too', async () => {
  // src/core/runFormat.ts imports tokenStats.ts (values); planting the way back closes a cycle.
  await assertOnly(
    'src/core/tokenStats.ts',
    "import { parseRunInfo } from './runFormat';\nexport const p = parseRunInfo;\n",
    'trapo/no-import-cycle',
    'src/core/tokenStats.ts -> src/core/runFormat.ts -> src/core/tokenStats.ts',
  );
  // src/shared/dashboardProtocol.ts has `import type { WireNumber } from './nonFinite'`: type-only both ways.
  await assertOnly(
    'src/shared/nonFinite.ts',
    "import type { RunData } from './dashboardProtocol';\nexport type R = RunData;\n",
    'trapo/no-import-cycle',
    'src/shared/nonFinite.ts -> src/shared/dashboardProtocol.ts -> src/shared/nonFinite.ts',
  );
});

test('code that keeps the layering passes', async () => {
  const clean: [string, string][] = [
    [
      'src/core/planted.ts',
      "import * as path from 'node:path';\nimport { decodeNumber } from '../shared/nonFinite';\nimport { formatDuration } from './time';\nexport const all = [path.sep, decodeNumber, formatDuration];\n",
    ],
    ['src/shared/planted.ts', "import { EmaState } from './ema';\nexport const e = new EmaState(0.5);\n"],
    [
      'webview/dashboard/planted.ts',
      "import { Chart } from 'chart.js';\nimport { EmaState } from '../../src/shared/ema';\nimport { toolbar } from './chartTools';\nexport const all = [Chart, EmaState, toolbar];\n",
    ],
    [
      'src/runs/planted.ts',
      "import * as vscode from 'vscode';\nimport { formatDuration } from '../core/time';\nexport const all = [vscode.window, formatDuration];\n",
    ],
  ];
  for (const [file, code] of clean) assert.deepEqual(await findings(file, code), [], file);
});
