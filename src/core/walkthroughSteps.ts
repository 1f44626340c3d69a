// What completes a walkthrough step, without vscode (src/walkthrough.ts watches the editor and sets the context keys):
// which opened document is a rollout, which tab is one of our webview panels.

/** The scheme of the read-only rollout documents (src/rollouts/rolloutUri.ts exports it as ROLLOUT_SCHEME). */
export const ROLLOUT_DOCUMENT_SCHEME = 'trapo-rollout';

/** A rollout: a trapo-rollout document, or a run's rollouts/<step>.jsonl file. */
export function isRolloutLocation(uri: { scheme: string; path: string }): boolean {
  return uri.scheme === ROLLOUT_DOCUMENT_SCHEME || (uri.scheme === 'file' && /[\\/]rollouts[\\/]\d+\.jsonl$/.test(uri.path));
}

/**
 * Whether a webview tab's view type is our panel's: VS Code's TabInputWebview.viewType carries its own prefix before
 * the view type the extension registered ("mainThreadWebview-trapo.dashboard"); another panel of ours whose type
 * merely starts the same ("trapo.dashboardX") is not it.
 */
export function isPanelViewType(tabViewType: string, ours: string): boolean {
  return tabViewType === ours || tabViewType.endsWith(`-${ours}`);
}

/** package.json's contributes.walkthroughs[0].id. */
export const WALKTHROUGH_ID = 'trapo.gettingStarted';

/**
 * The id VS Code's walkthroughs service gives a step of ours ("<publisher>.<name>#<walkthrough>#<step>"), the
 * argument of its `welcome.markStepComplete` command.
 */
export function walkthroughStepId(extensionId: string, stepId: string): string {
  return `${extensionId}#${WALKTHROUGH_ID}#${stepId}`;
}
