// Dead exports: an exported top-level declaration of src/ or webview/ whose name no code uses, in its own file or any
// other TypeScript or JavaScript file of the repo (tests and benchmarks count as users). ESLint's no-unused-vars and
// tsc's noUnusedLocals see one file at a time and take every export as used; this sees the whole repo. It counts
// identifiers in the syntax tree (TypeScript's parser, so comments and strings do not count), not resolved symbols:
// a name that is also used for something else elsewhere passes, so it finds dead code, not every unneeded export.
// Run by `npm run lint`; exits 1 and lists them when there are any.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import ts from 'typescript';

const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.mts', '*.mjs', '*.cjs', '*.js'], {
  encoding: 'utf8',
})
  .split('\n')
  .filter((f) => f && !f.startsWith('test/fixtures/') && fs.existsSync(f));

const uses = new Map(); // identifier -> occurrences in all files
const declared = []; // { file, name, line }
for (const file of files) {
  const kind = file.endsWith('.ts') || file.endsWith('.mts') ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true, kind);
  const visit = (node) => {
    if (ts.isIdentifier(node)) uses.set(node.text, (uses.get(node.text) ?? 0) + 1);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  if (!/^(src|webview)\//.test(file)) continue;
  for (const st of sf.statements) {
    if (!(ts.getModifiers(st) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) continue;
    const names = ts.isVariableStatement(st)
      ? st.declarationList.declarations.flatMap((d) => (ts.isIdentifier(d.name) ? [d.name] : []))
      : st.name && ts.isIdentifier(st.name)
        ? [st.name]
        : [];
    for (const n of names) declared.push({ file, name: n.text, line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1 });
  }
}

// The extension's entry points are called by VS Code (package.json "main"), not by our code.
const ENTRY_POINTS = new Set(['src/extension.ts:activate', 'src/extension.ts:deactivate']);
const dead = declared.filter((d) => uses.get(d.name) === 1 && !ENTRY_POINTS.has(`${d.file}:${d.name}`));
for (const d of dead) console.log(`${d.file}:${d.line}: export ${d.name} is used nowhere (delete it, or use it)`);
if (dead.length > 0) {
  console.log(`${dead.length} dead export(s)`);
  process.exit(1);
}
console.log(`dead exports: none (${declared.length} exports of src/ and webview/ checked against ${files.length} files)`);
