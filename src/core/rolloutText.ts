// The text of a rollout document and the character ranges its decorations and hovers use. Pure: no `vscode`, no I/O.
//
// Layout: a header (step, prompt id, sample, stage, guidance level, reward, advantage, ground truth, extracted answer,
// SFT ownership), the prompt, then the response: the expert prefix followed by the model's continuation. Ranges are
// [start, end) offsets in UTF-16 code units of `text`, what `TextDocument.positionAt` takes. Line breaks (CR LF, CR,
// U+2028, U+2029) are normalised to LF first, in the text and in the token texts alike: the editor would rewrite or
// drop them, and every offset after them would be off (decorations lost, hovers on the wrong characters).
import type { RolloutRecord, TokenInfo } from './runFormat';
import { normalizeLineBreaks, normalizeParts } from './visibleText';

/** TrSFT's trust-region threshold when the run config does not set one (docs/algorithm.md §4.1: alpha = 0.1). */
export const DEFAULT_TRSFT_ALPHA = 0.1;

export interface Span {
  start: number;
  end: number;
}

export interface TokenSpan extends Span {
  text: string;
  logprob: number;
  /** exp(logprob) */
  p: number;
  entropy: number;
  prefix: boolean;
  /** A prefix token with p < alpha: outside TrSFT's trust region. */
  outsideTrustRegion: boolean;
}

export interface RolloutText {
  text: string;
  header: Span;
  prompt: Span;
  /** The expert prefix in the response (empty span when unguided). */
  prefix: Span;
  /** The model's own continuation. */
  continuation: Span;
  tokens: TokenSpan[];
  /** Prefix tokens with p < alpha. */
  outsideTrustRegion: TokenSpan[];
  /** Recorded tokens whose text could not be placed in the prefix or the completion. */
  unplacedTokens: number;
  alpha: number;
}

export interface RenderOptions {
  alpha?: number;
  /** Samples in this prompt's group, shown as "sample 2 of 8". */
  groupSize?: number;
  runName?: string;
}

/** TrSFT alpha from a resolved run config: `trsft.alpha`, `trsft_alpha` or `alpha`, else 0.1. */
export function trsftAlpha(config: Record<string, unknown> | undefined): number {
  const pick = (x: unknown) => (typeof x === 'number' && x > 0 && x < 1 ? x : undefined);
  if (!config) return DEFAULT_TRSFT_ALPHA;
  const trsft = config.trsft;
  const nested = typeof trsft === 'object' && trsft !== null ? pick((trsft as Record<string, unknown>).alpha) : undefined;
  return nested ?? pick(config.trsft_alpha) ?? pick(config.alpha) ?? DEFAULT_TRSFT_ALPHA;
}

const RULE = '─'.repeat(8);

/** One line for a header value: line breaks (of any kind) shown as ⏎ so the header keeps its shape. */
function oneLine(s: string | null): string {
  if (s === null) return '(none)';
  return normalizeLineBreaks(s).replace(/\n/g, ' ⏎ ');
}

function signed(x: number): string {
  const s = Number.isInteger(x) ? String(x) : x.toFixed(4).replace(/0+$/, '');
  return x > 0 ? `+${s}` : s;
}

export function renderRollout(raw: RolloutRecord, options: RenderOptions = {}): RolloutText {
  const rec = withNormalizedBreaks(raw);
  const alpha = options.alpha ?? DEFAULT_TRSFT_ALPHA;
  const of = options.groupSize !== undefined ? ` of ${options.groupSize}` : '';
  const run = options.runName ? `${options.runName} · ` : '';
  const headerLines = [
    `${run}step ${rec.step} · prompt ${rec.prompt_id} · sample ${rec.sample}${of}`,
    `stage ${rec.stage} · guidance level ${rec.level}` + (rec.prefix_ratio !== undefined ? ` · prefix ratio ${rec.prefix_ratio.toFixed(2)}` : ''),
    `reward ${rec.reward} · advantage ${signed(rec.advantage)} · SFT loss on prefix: ${rec.sft_owner ? 'yes' : 'no'}`,
    `ground truth: ${oneLine(rec.answer)} · extracted: ${oneLine(rec.extracted)}`,
  ];
  const tokens = rec.tokens ?? [];
  const nPrefix = tokens.filter((t) => t.prefix).length;
  if (tokens.length) {
    headerLines.push(`tokens: ${nPrefix} prefix, ${tokens.length - nPrefix} continuation · alpha ${alpha}`);
  }
  let text = headerLines.join('\n') + '\n';
  const header = { start: 0, end: text.length - 1 };
  text += `\n${RULE} prompt ${RULE}\n`;
  const prompt = { start: text.length, end: text.length + rec.prompt.length };
  text += rec.prompt + '\n';
  text += `\n${RULE} response${rec.prefix ? ' (expert prefix, then model continuation)' : ''} ${RULE}\n`;
  const prefix = { start: text.length, end: text.length + rec.prefix.length };
  text += rec.prefix;
  const continuation = { start: text.length, end: text.length + rec.completion.length };
  text += rec.completion + '\n';

  const placed: TokenSpan[] = [];
  let unplaced = 0;
  const place = (part: string, base: number, list: TokenInfo[]) => {
    let cursor = 0;
    for (const t of list) {
      if (t.text === '' && (t as NormalizedToken).wasBreakHalf) continue; // the CR of a CR LF split over two tokens
      const found = locate(part, t.text, cursor);
      if (!found) {
        unplaced++;
        continue;
      }
      const { at, length } = found;
      const p = Math.exp(t.logprob);
      placed.push({
        start: base + at,
        end: base + at + length,
        text: t.text,
        logprob: t.logprob,
        p,
        entropy: t.entropy,
        prefix: t.prefix,
        outsideTrustRegion: t.prefix && p < alpha,
      });
      cursor = at + length;
    }
  };
  place(
    rec.prefix,
    prefix.start,
    tokens.filter((t) => t.prefix),
  );
  place(
    rec.completion,
    continuation.start,
    tokens.filter((t) => !t.prefix),
  );
  return {
    text,
    header,
    prompt,
    prefix,
    continuation,
    tokens: placed,
    outsideTrustRegion: placed.filter((t) => t.outsideTrustRegion),
    unplacedTokens: unplaced,
    alpha,
  };
}

type NormalizedToken = TokenInfo & { wasBreakHalf?: boolean };

/**
 * The record with LF for every line break in its prompt, prefix, completion and token texts. The prefix and the
 * completion are normalised as one text (a CR ending the prefix and an LF starting the completion are one break), and
 * so are the tokens in order, so that the token texts still match the parts they are found in.
 */
function withNormalizedBreaks(rec: RolloutRecord): RolloutRecord {
  const [prefix, completion] = normalizeParts([rec.prefix, rec.completion]);
  const out: RolloutRecord = { ...rec, prompt: normalizeLineBreaks(rec.prompt), prefix, completion };
  if (rec.tokens) {
    const texts = normalizeParts(rec.tokens.map((t) => t.text));
    out.tokens = rec.tokens.map((t, i): NormalizedToken =>
      texts[i] === t.text ? t : { ...t, text: texts[i], wasBreakHalf: texts[i] === '' && t.text !== '' },
    );
  }
  return out;
}

/** Where a token's text starts at or after `cursor`: at the cursor, or a little later (a skipped space); its length. */
function locate(part: string, tokenText: string, cursor: number): { at: number; length: number } | undefined {
  if (tokenText.length === 0) return undefined;
  if (part.startsWith(tokenText, cursor)) return { at: cursor, length: tokenText.length };
  const at = part.indexOf(tokenText, cursor);
  if (at !== -1 && at - cursor <= 8) return { at, length: tokenText.length };
  // The last token may carry whitespace the stored text lost at its end.
  const trimmed = tokenText.trimEnd();
  if (trimmed.length > 0 && trimmed.length < tokenText.length && part.startsWith(trimmed, cursor) && cursor + trimmed.length === part.trimEnd().length) {
    return { at: cursor, length: trimmed.length };
  }
  return undefined;
}

/** The token whose span holds `offset`, by binary search over the (ordered) token spans. */
export function tokenAt(tokens: readonly TokenSpan[], offset: number): TokenSpan | undefined {
  let lo = 0;
  let hi = tokens.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const t = tokens[mid];
    if (offset < t.start) hi = mid - 1;
    else if (offset >= t.end) lo = mid + 1;
    else return t;
  }
  return undefined;
}

/** Hover text for one token (markdown-free plain text). */
export function describeToken(t: TokenSpan, alpha: number): string {
  const lines = [
    `token ${JSON.stringify(t.text)} (${t.prefix ? 'expert prefix' : 'model continuation'})`,
    `log-probability ${t.logprob.toFixed(4)} · probability ${t.p.toFixed(4)} · entropy ${t.entropy.toFixed(4)} nats`,
  ];
  if (t.outsideTrustRegion) lines.push(`outside TrSFT's trust region: p < alpha = ${alpha}`);
  return lines.join('\n');
}
