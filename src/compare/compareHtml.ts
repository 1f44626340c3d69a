// The Compare Checkpoints page: a static skeleton, one stylesheet, one nonce'd script. No `vscode` import, so the
// webview-safety test serves exactly this page in headless Chromium. Nothing from a run or a model is written into
// this HTML: the script fills the page with textContent from the messages it receives.
import { attr } from '../core/html';

export interface CompareHtmlParts {
  /** webview.cspSource */
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce: string;
}

/** A fresh nonce: 32 characters from [A-Za-z0-9]. */
export function compareNonce(random: (n: number) => Uint8Array): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = random(32);
  let s = '';
  for (let i = 0; i < 32; i++) s += chars[bytes[i] % chars.length];
  return s;
}

export function compareCsp(cspSource: string, nonce: string): string {
  return ["default-src 'none'", `img-src ${cspSource} data:`, `font-src ${cspSource}`, `style-src ${cspSource}`, `script-src 'nonce-${nonce}'`].join('; ');
}

export function compareHtml(p: CompareHtmlParts): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(compareCsp(p.cspSource, p.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(p.styleUri)}">
<title>Compare Checkpoints</title>
</head>
<body>
<h1 id="title">Compare checkpoints</h1>
<p id="sides" class="sides"></p>
<section>
  <h2>Benchmarks</h2>
  <p class="note">Difference is B − A over the problems both evaluated; the interval is a 95% paired bootstrap over problems. A problem counts as solved when at least half its samples are correct. The average row is the mean over the benchmarks both evaluated, its interval a bootstrap that resamples problems within each benchmark. Problems pair across runs when they come from the same benchmark file (equal digests). Results marked ◆ come from Evaluate Checkpoint.</p>
  <div id="table-host"></div>
  <ul id="table-notes" class="note"></ul>
  <p id="empty" class="empty" hidden>Neither checkpoint has evaluations (evals/&lt;step&gt;/).</p>
</section>
<section>
  <h2>Flipped problems</h2>
  <p class="note">Each opens both checkpoints' completions in the diff editor.</p>
  <div id="flips"></div>
</section>
<section id="live">
  <h2>Live prompt</h2>
  <p id="live-unavailable" class="note" hidden></p>
  <div id="live-form" class="live-form" hidden>
    <p id="live-note" class="note"></p>
    <vscode-textarea id="prompt" rows="3" placeholder="A prompt for both checkpoints" resize="vertical"></vscode-textarea>
    <div class="live-controls">
      <label for="prompt-mode">Prompt</label>
      <vscode-single-select id="prompt-mode"></vscode-single-select>
      <label for="max-tokens">Max tokens</label>
      <vscode-textfield id="max-tokens" type="number" value="64" min="1" max="4096"></vscode-textfield>
      <label for="temperature">Temperature (0 = greedy)</label>
      <vscode-textfield id="temperature" type="number" value="0" min="0" max="10" step="0.1"></vscode-textfield>
      <vscode-button id="generate">Generate</vscode-button>
      <vscode-button id="cancel" secondary disabled>Cancel</vscode-button>
    </div>
    <p id="live-status" class="note"></p>
    <div class="outputs">
      <div class="output"><h3 id="out-a-title">A</h3><p id="out-a-model" class="note"></p><pre id="out-a" class="completion"></pre><p id="out-a-status" class="note"></p></div>
      <div class="output"><h3 id="out-b-title">B</h3><p id="out-b-model" class="note"></p><pre id="out-b" class="completion"></pre><p id="out-b-status" class="note"></p></div>
    </div>
  </div>
</section>
<script nonce="${attr(p.nonce)}" src="${attr(p.scriptUri)}"></script>
</body>
</html>`;
}
