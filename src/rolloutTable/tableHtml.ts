// The rollout table page: a static skeleton, one stylesheet, one nonce'd script, the dashboard's strict CSP. No
// `vscode` import (the unit test and the benchmark serve exactly this page). Nothing from a run is in here: the
// webview fills it with textContent.
import { dashboardCsp } from '../dashboard/dashboardHtml';
import { attr } from '../core/html';

export interface TableHtmlParts {
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce: string;
}

export function rolloutTableHtml(p: TableHtmlParts): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(dashboardCsp(p.cspSource, p.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(p.styleUri)}">
<title>TRAPO Rollouts</title>
</head>
<body>
<header class="toolbar">
  <input id="query" class="query" type="search" spellcheck="false" aria-label="Filter rollouts"
    placeholder="Filter: step:100..200  level:1,2  reward:>0  length:>=80  entropy:<0.1  id:p0012  words of the prompt">
  <button id="same-prompt" type="button" disabled title="List the selected row's prompt across steps">Same prompt over time</button>
  <button id="diff" type="button" disabled title="Open the two selected rows in the diff editor (Ctrl/Cmd-click selects a second row)">Diff two rows</button>
  <button id="open" type="button" disabled title="Open the selected row's rollout (or double-click it, or Enter)">Open</button>
  <span id="status" class="status" role="status">Loading…</span>
</header>
<section class="histograms" aria-label="Histograms of the rows shown">
  <figure><figcaption id="hist-reward-title">reward</figcaption><canvas id="hist-reward" width="360" height="90"></canvas></figure>
  <figure><figcaption id="hist-length-title">length</figcaption><canvas id="hist-length" width="360" height="90"></canvas></figure>
</section>
<div id="header" class="row header" role="row"></div>
<div id="body" class="body" role="grid" tabindex="0" aria-label="Rollouts">
  <div id="spacer" class="spacer"></div>
  <div id="rows" class="rows"></div>
</div>
<p id="empty" class="empty" hidden></p>
<script nonce="${attr(p.nonce)}" src="${attr(p.scriptUri)}"></script>
</body>
</html>`;
}
