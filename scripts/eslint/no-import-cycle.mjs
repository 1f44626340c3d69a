// ESLint rule trapo/no-import-cycle: no import cycle between the repo's own modules, type-only imports included.
//
// Hand-written because eslint-plugin-import-x's no-cycle (like eslint-plugin-import's) skips `import type` edges
// with no option to count them, and a type-only cycle still ties two modules together (the cycle between
// src/extension.ts and the feature indexes was one). Edges are every module specifier TypeScript's own scanner
// (ts.preProcessFile) finds: import / export ... from, `import type`, require(), import(), `typeof import()`.
// Only relative specifiers are followed (an npm package cannot import back into the repo). The linted file's edges
// come from the text being linted, every other file's from disk (cached by mtime for the length of a lint run).
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const EXTENSIONS = ['.ts', '.tsx', '.d.ts', '.mts', '.cts', '.mjs', '.cjs', '.js'];
const cache = new Map(); // file -> { mtimeMs, specifiers }

function specifiersOf(text) {
  return ts.preProcessFile(text, true, true).importedFiles.filter((f) => f.fileName.startsWith('.'));
}

function resolveRelative(fromFile, specifier) {
  const base = path.resolve(path.dirname(fromFile), specifier);
  const candidates = [base, ...EXTENSIONS.map((e) => base + e), ...EXTENSIONS.map((e) => path.join(base, 'index' + e))];
  for (const c of candidates) {
    try {
      if (fs.statSync(c).isFile()) return c;
    } catch {
      // not this candidate
    }
  }
  return undefined;
}

function edgesOnDisk(file) {
  let stat;
  try {
    stat = fs.statSync(file);
  } catch {
    return [];
  }
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === stat.mtimeMs) return hit.targets;
  const targets = specifiersOf(fs.readFileSync(file, 'utf8'))
    .map((s) => resolveRelative(file, s.fileName))
    .filter((t) => t !== undefined);
  cache.set(file, { mtimeMs: stat.mtimeMs, targets });
  return targets;
}

/** The shortest import path from `start` back to `file` (start first, file last), or undefined. */
function pathBack(start, file) {
  if (start === file) return [file];
  const parent = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const at = queue.shift();
    for (const next of edgesOnDisk(at)) {
      if (next === file) {
        const chain = [file];
        for (let n = at; n !== null; n = parent.get(n)) chain.unshift(n);
        return chain;
      }
      if (!parent.has(next)) {
        parent.set(next, at);
        queue.push(next);
      }
    }
  }
  return undefined;
}

export const noImportCycle = {
  meta: {
    type: 'problem',
    docs: { description: 'No import cycle between modules of the repo, type-only imports included.' },
    schema: [],
    messages: { cycle: 'Import cycle: {{chain}}. Move what both need into a module that imports neither.' },
  },
  create(context) {
    const file = path.resolve(context.filename);
    const root = context.cwd;
    const rel = (f) => path.relative(root, f);
    return {
      Program() {
        const text = context.sourceCode.text;
        const seen = new Set();
        for (const s of specifiersOf(text)) {
          const target = resolveRelative(file, s.fileName);
          if (target === undefined || seen.has(target)) continue;
          seen.add(target);
          const chain = pathBack(target, file);
          if (chain === undefined) continue;
          context.report({
            loc: { start: context.sourceCode.getLocFromIndex(s.pos), end: context.sourceCode.getLocFromIndex(s.end) },
            messageId: 'cycle',
            data: { chain: [file, ...chain].map(rel).join(' -> ') },
          });
        }
      },
    };
  },
};

export default { rules: { 'no-import-cycle': noImportCycle } };
