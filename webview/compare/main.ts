// Compare Checkpoints webview. Every text that comes from a run or a model (benchmark names, prompts, answers,
// completions, labels) is set with textContent: never innerHTML, never an attribute that a browser interprets.
import '@vscode-elements/elements/dist/vscode-table/index.js';
import '@vscode-elements/elements/dist/vscode-table-header/index.js';
import '@vscode-elements/elements/dist/vscode-table-header-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-body/index.js';
import '@vscode-elements/elements/dist/vscode-table-row/index.js';
import '@vscode-elements/elements/dist/vscode-table-cell/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import {
  AverageRow,
  BenchmarkRow,
  COMPARE_PROTOCOL_VERSION,
  HostMessage,
  CompareInitMessage,
  PromptMode,
  Side,
  SideStats,
  WebviewMessage,
} from '../../src/shared/compareProtocol';

declare function acquireVsCodeApi(): { postMessage(m: unknown): void };
const vscode = acquireVsCodeApi();
const post = (m: WebviewMessage) => vscode.postMessage(m);

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K];
function el(tag: string, text?: string, cls?: string): HTMLElement;
function el(tag: string, text?: string, cls?: string): HTMLElement {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : `${(100 * x).toFixed(1)}%`);
const signedPct = (x: number) => `${x > 0 ? '+' : x < 0 ? '−' : '±'}${(100 * Math.abs(x)).toFixed(1)}`;

function renderTable(init: CompareInitMessage): void {
  const host = $('table-host');
  host.replaceChildren();
  $('empty').hidden = init.rows.length > 0;
  if (!init.rows.length) return;
  const table = el('vscode-table');
  table.setAttribute('zebra', '');
  table.setAttribute('bordered-rows', '');
  table.setAttribute('resizable', '');
  const header = el('vscode-table-header');
  header.setAttribute('slot', 'header');
  for (const h of ['Benchmark', `A: ${init.a.label}`, `B: ${init.b.label}`, 'B − A (points)', '95% interval', 'Flips A→B / B→A', 'Problems paired']) {
    header.append(el('vscode-table-header-cell', h));
  }
  const body = el('vscode-table-body');
  body.setAttribute('slot', 'body');
  for (const r of init.rows) body.append(row(r));
  if (init.average) body.append(averageRow(init.average));
  table.append(header, body);
  host.append(table);
  const notes = init.rows.filter((r) => r.note).map((r) => r.note!);
  $('table-notes').replaceChildren(...notes.map((n) => el('li', n)));
}

/** "62.5% (24)", with ◆ when the result is Evaluate Checkpoint's. */
const sideText = (s: SideStats) => `${pct(s.accuracy)} (${s.problems})${s.source === 'checkpoint' ? ' ◆' : ''}`;

function row(r: BenchmarkRow): HTMLElement {
  const tr = el('vscode-table-row');
  const cell = (text: string, cls?: string) => tr.append(el('vscode-table-cell', text, cls));
  cell(r.benchmark);
  cell(r.a ? sideText(r.a) : 'not evaluated', r.a ? 'num' : 'missing');
  cell(r.b ? sideText(r.b) : 'not evaluated', r.b ? 'num' : 'missing');
  if (r.paired && r.paired.n > 0) {
    const p = r.paired;
    // Significant when the interval excludes 0.
    const cls = p.low > 0 ? 'num better' : p.high < 0 ? 'num worse' : 'num';
    cell(signedPct(p.difference), cls);
    cell(`[${signedPct(p.low)}, ${signedPct(p.high)}]`, 'num');
    cell(`${p.flipsToB} / ${p.flipsToA}`, 'num');
    cell(`${p.n}` + (r.unpairedA || r.unpairedB ? ` (+${r.unpairedA} A only, +${r.unpairedB} B only)` : ''), 'num');
  } else {
    const why = r.presence === 'onlyA' ? 'only on A' : r.presence === 'onlyB' ? 'only on B' : 'no shared problems';
    for (let i = 0; i < 4; i++) cell(i === 0 ? why : '—', 'missing');
  }
  return tr;
}

function averageRow(a: AverageRow): HTMLElement {
  const tr = el('vscode-table-row', undefined, 'average');
  const cell = (text: string, cls?: string) => tr.append(el('vscode-table-cell', text, cls));
  cell(`Average (${a.benchmarks.length} benchmark${a.benchmarks.length === 1 ? '' : 's'})`);
  cell(pct(a.accuracyA), 'num');
  cell(pct(a.accuracyB), 'num');
  cell(signedPct(a.difference), a.low > 0 ? 'num better' : a.high < 0 ? 'num worse' : 'num');
  cell(`[${signedPct(a.low)}, ${signedPct(a.high)}]`, 'num');
  cell(`${a.flipsToB} / ${a.flipsToA}`, 'num');
  cell(`${a.n}`, 'num');
  tr.title = `mean over ${a.benchmarks.join(', ')} of the paired problems' accuracy`;
  return tr;
}

function renderFlips(init: CompareInitMessage): void {
  const host = $('flips');
  host.replaceChildren();
  const withFlips = init.rows.filter((r) => r.flips.length);
  if (!withFlips.length) {
    host.append(el('p', 'No problem flipped.', 'empty'));
    return;
  }
  for (const r of withFlips) {
    const details = el('details', undefined, 'flip-group');
    details.open = withFlips.length === 1;
    const toB = r.flips.filter((f) => f.direction === 'toB').length;
    details.append(el('summary', `${r.benchmark}: ${toB} solved by B only, ${r.flips.length - toB} solved by A only`));
    const list = el('ul', undefined, 'flip-list');
    for (const f of r.flips) {
      const li = el('li');
      const b = el('button', undefined, 'flip');
      b.type = 'button';
      b.append(el('span', f.direction === 'toB' ? 'A✗ → B✓' : 'A✓ → B✗', 'dir'));
      b.append(el('span', `${f.problemId}: ${excerpt(f.prompt)}`));
      b.title = `accuracy A ${pct(f.accuracyA)}, B ${pct(f.accuracyB)}; ground truth ${f.answer}`;
      b.addEventListener('click', () => post({ type: 'openDiff', benchmark: r.benchmark, problemId: f.problemId }));
      li.append(b);
      list.append(li);
    }
    details.append(list);
    host.append(details);
  }
}

function excerpt(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 100 ? `${one.slice(0, 100)}…` : one;
}

// ------------------------------------------------------------------------------------------------ live prompt

let generation = 0;
let running = 0;
let prepared = false;
let liveAvailable = false;
const started: Record<Side, number> = { a: 0, b: 0 };

const MODE_LABELS: Record<PromptMode, string> = {
  training: 'as in training (chat template + instruction)',
  chat: 'chat template only',
  raw: 'raw text',
};

function setRunning(n: number): void {
  running = n;
  ($('generate') as HTMLElement & { disabled: boolean }).disabled = n > 0;
  ($('cancel') as HTMLElement & { disabled: boolean }).disabled = n === 0;
}

function setupLive(init: CompareInitMessage): void {
  $('out-a-title').textContent = `A: ${init.a.label}`;
  $('out-b-title').textContent = `B: ${init.b.label}`;
  liveAvailable = init.live.unavailable === null;
  if (!liveAvailable) {
    $('live-unavailable').textContent = init.live.unavailable;
    $('live-unavailable').hidden = false;
    $('live-form').hidden = true;
    return;
  }
  $('live-unavailable').hidden = true;
  $('live-form').hidden = false;
  $('live-note').textContent = `Answered by ${init.live.note}.`;
  const select = $('prompt-mode') as HTMLElement & { value: string };
  select.replaceChildren();
  for (const mode of init.live.promptModes) {
    const o = el('vscode-option', MODE_LABELS[mode]);
    o.setAttribute('value', mode);
    select.append(o);
  }
  select.value = init.live.promptModes[0];
}

function promptMode(): PromptMode {
  const v = ($('prompt-mode') as HTMLElement & { value: string }).value;
  return v === 'chat' || v === 'raw' ? v : 'training';
}

function prepare(): void {
  if (prepared || !liveAvailable) return;
  prepared = true;
  post({ type: 'prepare' });
}

function startGeneration(): void {
  const prompt = ($('prompt') as HTMLElement & { value: string }).value;
  const maxTokens = Math.round(Number(($('max-tokens') as HTMLElement & { value: string }).value));
  const temperature = Number(($('temperature') as HTMLElement & { value: string }).value);
  if (!prompt.trim()) return status('a', 'Type a prompt first.');
  if (!(maxTokens >= 1 && maxTokens <= 4096)) return status('a', 'Max tokens must be between 1 and 4096.');
  if (!(temperature >= 0 && temperature <= 10)) return status('a', 'Temperature must be between 0 and 10.');
  prepared = true;
  generation++;
  for (const s of ['a', 'b'] as const) {
    $(`out-${s}`).textContent = '';
    status(s, 'generating…');
    started[s] = 0;
  }
  setRunning(2);
  post({ type: 'generate', generation, prompt, maxTokens, temperature, promptMode: promptMode() });
}

function status(side: Side, text: string): void {
  $(`out-${side}-status`).textContent = text;
}

function doneText(m: Extract<HostMessage, { type: 'done' }>): string {
  const why = m.stopped === 'eos' ? 'finished' : m.stopped === 'max_tokens' ? 'max tokens reached' : 'cancelled';
  const first = m.firstTokenSeconds === null ? '' : ` · first token after ${m.firstTokenSeconds.toFixed(2)} s`;
  return `${why} · ${m.tokens} tokens in ${m.seconds.toFixed(2)} s (${(m.tokens / Math.max(m.seconds, 1e-9)).toFixed(1)} tokens/s)${first}`;
}

function onMessage(m: HostMessage): void {
  switch (m.type) {
    case 'init':
      $('title').textContent = `Compare: ${m.a.label} vs ${m.b.label}`;
      $('sides').textContent = `A = ${m.a.label} (${m.a.runDir}, step ${m.a.step}) · B = ${m.b.label} (${m.b.runDir}, step ${m.b.step})`;
      renderTable(m);
      renderFlips(m);
      setupLive(m);
      break;
    case 'liveStatus':
      if (m.generation !== null && m.generation !== generation) break;
      if (m.side) $(`out-${m.side}-model`).textContent = m.text;
      else $('live-status').textContent = m.text;
      break;
    case 'token':
      if (m.generation !== generation) break;
      if (!started[m.side]) {
        started[m.side] = 1;
        status(m.side, 'streaming…');
      }
      $(`out-${m.side}`).append(document.createTextNode(m.text));
      break;
    case 'done':
      if (m.generation !== generation) break;
      status(m.side, doneText(m));
      setRunning(Math.max(0, running - 1));
      break;
    case 'error':
      if (m.generation === null) {
        // while getting ready (no generation yet)
        if (m.side) $(`out-${m.side}-model`).textContent = `error: ${m.message}`;
        else $('live-status').textContent = `error: ${m.message}`;
      } else if (m.generation !== generation) {
        break;
      } else if (m.side) {
        status(m.side, `error: ${m.message}`);
        setRunning(Math.max(0, running - 1));
      } else {
        $('live-status').textContent = `error: ${m.message}`;
        for (const s of ['a', 'b'] as const) status(s, 'not answered');
        setRunning(0);
      }
      break;
    default: {
      const never: never = m;
      void never;
    }
  }
}

window.addEventListener('message', (e: MessageEvent<HostMessage>) => onMessage(e.data));
$('generate').addEventListener('click', () => {
  if (running === 0) startGeneration();
});
$('cancel').addEventListener('click', () => post({ type: 'cancel' }));
$('prompt').addEventListener('focusin', prepare);
post({ type: 'ready', version: COMPARE_PROTOCOL_VERSION });
