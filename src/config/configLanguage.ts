// Editor support for TRAPO config files (*.trapo.yaml, *.trapo.yml, *.trapo.json) without another extension: key
// completion, value completion for enums and booleans, hover with each key's help, and diagnostics, all from the
// trainer's schema (trainer/trapo/schemas/config.schema.json) and the `yaml` library's document model
// (src/core/configDocument.ts, src/core/configSchemaHelp.ts hold the logic; this file maps it to VS Code).
//
// Diagnostics share one collection with "Start TRAPO Run": the trainer's own problems found at a start (cross-field
// rules, missing files) stay beside the live schema problems until the file is edited.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ValidateFunction } from 'ajv';
import { ConfigDocument } from '../core/configDocument';
import { ConfigDiagnostic, Flavor, JsonSchema, configCompletions, configDiagnostics, configHover } from '../core/configSchemaHelp';
import { ConfigProblem, compileConfigSchema } from '../core/configValidation';

export const CONFIG_SELECTOR: vscode.DocumentSelector = [{ pattern: '**/*.trapo.{yaml,yml,json}' }];
const CONFIG_FILE = /\.trapo\.(ya?ml|json)$/i;
const DEBOUNCE_MS = 250;

export interface ConfigProblemReporter {
  /** Problems found when a run was started (schema or trainer), placed on their keys; kept until the file changes. */
  report(uri: vscode.Uri, text: string, problems: readonly ConfigProblem[]): void;
}

interface Schema {
  raw: JsonSchema;
  validate: ValidateFunction;
}

export function isConfigDocument(doc: vscode.TextDocument): boolean {
  return CONFIG_FILE.test(doc.uri.path);
}

function flavorOf(doc: vscode.TextDocument): Flavor {
  return /\.json$/i.test(doc.uri.path) || doc.languageId === 'json' || doc.languageId === 'jsonc' ? 'json' : 'yaml';
}

export function registerConfigLanguage(context: vscode.ExtensionContext, collection: vscode.DiagnosticCollection): ConfigProblemReporter {
  const schemaFile = path.join(context.extensionPath, 'trainer', 'trapo', 'schemas', 'config.schema.json');
  let schemaPromise: Promise<Schema | undefined> | undefined;
  const schema = () =>
    (schemaPromise ??= fs
      .readFile(schemaFile, 'utf8')
      .then((text) => {
        const raw = JSON.parse(text) as JsonSchema;
        return { raw, validate: compileConfigSchema(raw as Record<string, unknown>) };
      })
      .catch((err) => {
        console.error(`[trapo] cannot read the config schema ${schemaFile}:`, err);
        return undefined;
      }));

  /** Problems a start found, by document URI, until that document changes. */
  const startProblems = new Map<string, vscode.Diagnostic[]>();
  const timers = new Map<string, NodeJS.Timeout>();

  const validate = async (doc: vscode.TextDocument) => {
    if (!isConfigDocument(doc)) return;
    const s = await schema();
    if (!s) return;
    const text = doc.getText();
    // VS Code's JSON support reports JSON syntax errors itself.
    const live = configDiagnostics(text, s.validate, { syntax: flavorOf(doc) === 'yaml' }).map((d) => toDiagnostic(doc, d));
    collection.set(doc.uri, mergeDiagnostics(live, startProblems.get(doc.uri.toString()) ?? []));
  };
  const schedule = (doc: vscode.TextDocument) => {
    const key = doc.uri.toString();
    clearTimeout(timers.get(key));
    timers.set(
      key,
      setTimeout(() => {
        timers.delete(key);
        void validate(doc);
      }, DEBOUNCE_MS),
    );
  };

  context.subscriptions.push(
    vscode.languages.registerCompletionItemProvider(
      CONFIG_SELECTOR,
      {
        async provideCompletionItems(doc, position, _token, ctx) {
          const s = await schema();
          if (!s) return undefined;
          const offset = doc.offsetAt(position);
          if (ctx.triggerKind === vscode.CompletionTriggerKind.TriggerCharacter && ctx.triggerCharacter === ' ') {
            // A space asks for values after "key: " and keys after "- " only.
            const before = doc.lineAt(position.line).text.slice(0, position.character);
            if (!/(:|^\s*-)\s$/.test(before)) return undefined;
          }
          return configCompletions(s.raw, doc.getText(), offset, flavorOf(doc)).map((c) => {
            const item = new vscode.CompletionItem(c.label, c.kind === 'key' ? vscode.CompletionItemKind.Property : vscode.CompletionItemKind.EnumMember);
            item.detail = c.detail || undefined;
            item.documentation = new vscode.MarkdownString(c.documentation);
            item.insertText = new vscode.SnippetString(c.snippet);
            item.range = new vscode.Range(doc.positionAt(c.replace.start), doc.positionAt(c.replace.end));
            item.sortText = c.sortText;
            if (c.kind === 'key' && c.snippet.includes('\n')) item.command = { command: 'editor.action.triggerSuggest', title: 'Suggest keys' };
            return item;
          });
        },
      },
      ' ',
      '"',
    ),
    vscode.languages.registerHoverProvider(CONFIG_SELECTOR, {
      async provideHover(doc, position) {
        const s = await schema();
        if (!s) return undefined;
        const hit = configHover(s.raw, doc.getText(), doc.offsetAt(position));
        if (!hit) return undefined;
        return new vscode.Hover(new vscode.MarkdownString(hit.markdown), new vscode.Range(doc.positionAt(hit.span.start), doc.positionAt(hit.span.end)));
      },
    }),
    vscode.workspace.onDidOpenTextDocument((doc) => void validate(doc)),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (!isConfigDocument(e.document) || e.contentChanges.length === 0) return;
      startProblems.delete(e.document.uri.toString());
      schedule(e.document);
    }),
    vscode.workspace.onDidCloseTextDocument((doc) => {
      if (!isConfigDocument(doc)) return;
      const kept = startProblems.get(doc.uri.toString());
      if (kept) collection.set(doc.uri, kept);
      else collection.delete(doc.uri);
    }),
    { dispose: () => timers.forEach((t) => clearTimeout(t)) },
  );
  for (const doc of vscode.workspace.textDocuments) void validate(doc);

  return {
    report(uri, text, problems) {
      const doc = new ConfigDocument(text);
      const diagnostics = problems.map((p) => {
        const { span } = doc.spanOf(p.key);
        const range = new vscode.Range(toPosition(doc, span.start), toPosition(doc, Math.max(span.end, span.start)));
        const d = new vscode.Diagnostic(range, p.key ? `${p.key}: ${p.message}` : p.message, vscode.DiagnosticSeverity.Error);
        d.source = 'trapo';
        return d;
      });
      startProblems.set(uri.toString(), diagnostics);
      const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
      if (open) void validate(open);
      else collection.set(uri, diagnostics);
    },
  };
}

function toPosition(doc: ConfigDocument, offset: number): vscode.Position {
  const p = doc.positionAt(offset);
  return new vscode.Position(p.line, p.character);
}

function toDiagnostic(doc: vscode.TextDocument, d: ConfigDiagnostic): vscode.Diagnostic {
  const range = new vscode.Range(doc.positionAt(d.span.start), doc.positionAt(Math.max(d.span.end, d.span.start)));
  const out = new vscode.Diagnostic(range, d.message, d.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
  out.source = 'trapo';
  return out;
}

/** Live problems first; a start's problems that say something else (the trainer's own checks) after them. */
function mergeDiagnostics(live: vscode.Diagnostic[], fromStart: vscode.Diagnostic[]): vscode.Diagnostic[] {
  const seen = new Set(live.map((d) => d.message));
  return [...live, ...fromStart.filter((d) => !seen.has(d.message))];
}
