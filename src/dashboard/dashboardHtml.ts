// The dashboard page: a static skeleton, one stylesheet, one nonce'd script. No `vscode` import, so the benchmark
// harness serves exactly this page in headless Chromium. Nothing from a run is in here: the webview fills the page
// with textContent from the messages it receives.
import { attr } from '../core/html';

export interface DashboardHtmlParts {
  /** webview.cspSource */
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce: string;
}

/** A fresh nonce: 32 characters from [A-Za-z0-9] (about 190 bits). */
export function makeNonce(random: (n: number) => Uint8Array): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = random(32);
  let s = '';
  for (let i = 0; i < 32; i++) s += chars[bytes[i] % chars.length];
  return s;
}

export function dashboardCsp(cspSource: string, nonce: string): string {
  return ["default-src 'none'", `img-src ${cspSource} data:`, `font-src ${cspSource}`, `style-src ${cspSource}`, `script-src 'nonce-${nonce}'`].join('; ');
}

export function dashboardHtml(p: DashboardHtmlParts): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(dashboardCsp(p.cspSource, p.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(p.styleUri)}">
<title>TRAPO Dashboard</title>
</head>
<body>
<header class="toolbar">
  <div class="control runs-control">
    <span class="control-label">Runs</span>
    <input id="run-filter" class="filter" type="search" spellcheck="false" aria-label="Filter runs"
      placeholder="Filter runs: name, status:running, algorithm:grpo, seed:1, any config key:value">
    <button id="runs-tick" type="button" title="Show every run the filter lists">Show listed</button>
    <button id="runs-untick" type="button" title="Hide every run the filter lists">Hide listed</button>
    <span id="runs-count" class="muted"></span>
    <div id="runs" class="runs" role="group" aria-label="Runs shown"></div>
  </div>
  <div class="control">
    <label class="control-label" for="group-by">Group by</label>
    <select id="group-by" title="Draw the runs that share this config value as their mean with a band"></select>
    <select id="band" aria-label="Band" title="The band around a group's mean">
      <option value="minmax">min–max</option>
      <option value="ci95">95% interval</option>
    </select>
    <label class="check"><input id="show-runs" type="checkbox"> each run</label>
  </div>
  <div class="control">
    <label class="control-label" for="metric-filter">Charts</label>
    <input id="metric-filter" class="filter" type="search" spellcheck="false"
      placeholder="regex over titles, e.g. ^(reward|loss)/" title="A regular expression over chart titles (case-insensitive)">
  </div>
  <div class="control">
    <label class="control-label" for="smoothing">Smoothing</label>
    <input id="smoothing" type="range" min="0" max="0.99" step="0.01" value="0.6">
    <output id="smoothing-value" for="smoothing">0.60</output>
  </div>
  <div class="control">
    <label class="control-label" for="x-axis">X axis</label>
    <select id="x-axis" title="Step, wall time since the run started, or a metric that only grows"></select>
  </div>
  <span id="status" class="status" role="status"></span>
</header>
<div id="notes" class="notes" role="status" hidden></div>
<main id="groups"></main>
<p id="empty" class="empty">Waiting for data…</p>
<div id="fullsize" class="fullsize" role="dialog" aria-label="Chart, full size" hidden></div>
<script nonce="${attr(p.nonce)}" src="${attr(p.scriptUri)}"></script>
</body>
</html>`;
}
