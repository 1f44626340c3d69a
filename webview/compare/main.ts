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
import type { BenchmarkRow, HostMessage, InitMessage, Side, WebviewMessage } from '../../src/shared/compareProtocol';

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

function renderTable(init: InitMessage): void {
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
  table.append(header, body);
  host.append(table);
}

function row(r: BenchmarkRow): HTMLElement {
  const tr = el('vscode-table-row');
  const cell = (text: string, cls?: string) => tr.append(el('vscode-table-cell', text, cls));
  cell(r.benchmark);
  cell(r.a ? `${pct(r.a.accuracy)} (${r.a.problems})` : 'not evaluated', r.a ? 'num' : 'missing');
  cell(r.b ? `${pct(r.b.accuracy)} (${r.b.problems})` : 'not evaluated', r.b ? 'num' : 'missing');
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

function renderFlips(init: InitMessage): void {
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

function setRunning(n: number): void {
  running = n;
  ($('generate') as HTMLElement & { disabled: boolean }).disabled = n > 0;
  ($('cancel') as HTMLElement & { disabled: boolean }).disabled = n === 0;
}

function setupLive(init: InitMessage): void {
  $('out-a-title').textContent = `A: ${init.a.label}`;
  $('out-b-title').textContent = `B: ${init.b.label}`;
  if (init.liveUnavailable !== null) {
    $('live-unavailable').textContent = init.liveUnavailable;
    $('live-unavailable').hidden = false;
    $('live-form').hidden = true;
    return;
  }
  $('live-unavailable').hidden = true;
  $('live-form').hidden = false;
}

function startGeneration(): void {
  const prompt = ($('prompt') as HTMLElement & { value: string }).value;
  const maxTokens = Math.round(Number(($('max-tokens') as HTMLElement & { value: string }).value));
  const temperature = Number(($('temperature') as HTMLElement & { value: string }).value);
  if (!prompt.trim()) return status('a', 'Type a prompt first.');
  if (!(maxTokens >= 1 && maxTokens <= 4096)) return status('a', 'Max tokens must be between 1 and 4096.');
  if (!(temperature >= 0 && temperature <= 10)) return status('a', 'Temperature must be between 0 and 10.');
  generation++;
  for (const s of ['a', 'b'] as const) {
    $(`out-${s}`).textContent = '';
    status(s, 'generating…');
  }
  setRunning(2);
  post({ type: 'generate', generation, prompt, maxTokens, temperature });
}

function status(side: Side, text: string): void {
  $(`out-${side}-status`).textContent = text;
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
    case 'token':
      if (m.generation === generation) $(`out-${m.side}`).append(document.createTextNode(m.text));
      break;
    case 'done':
      if (m.generation !== generation) break;
      status(m.side, `${m.stopped === 'eos' ? 'finished' : m.stopped === 'max_tokens' ? 'max tokens reached' : 'cancelled'} · ${m.tokens} tokens in ${m.seconds.toFixed(2)} s (${(m.tokens / Math.max(m.seconds, 1e-9)).toFixed(1)} tokens/s)`);
      setRunning(Math.max(0, running - 1));
      break;
    case 'error':
      if (m.side && m.generation === generation) {
        status(m.side, `error: ${m.message}`);
        setRunning(Math.max(0, running - 1));
      } else if (!m.side) {
        status('a', `error: ${m.message}`);
        setRunning(0);
      }
      break;
  }
}

window.addEventListener('message', (e: MessageEvent<HostMessage>) => onMessage(e.data));
$('generate').addEventListener('click', () => {
  if (running === 0) startGeneration();
});
$('cancel').addEventListener('click', () => post({ type: 'cancel' }));
post({ type: 'ready' });
