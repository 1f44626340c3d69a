// Untrusted text (a model's output, a prompt, a run name) made readable where VS Code shows it (no vscode import).
//
// - Line breaks: a document's text model knows LF, CRLF and CR and rewrites them to its one end-of-line sequence;
//   U+2028 and U+2029 it treats as "unusual line terminators" and may remove. Offsets computed on the raw text are
//   then off. So a rollout's text is normalised to LF before any offset is computed (normalizeLineBreaks).
// - Bidirectional controls (U+202A..U+202E, U+2066..U+2069, LRM, RLM, ALM) reorder the text around them: an
//   override makes "abc" read "cba". The editor shows them as visible characters; a quick pick or a tree label does
//   not, so there they are replaced by a visible marker naming the code point (visibleControls).

/** CR LF, a lone CR, U+2028 (line separator) and U+2029 (paragraph separator) each become one LF. */
const LINE_BREAKS = /\r\n|[\r\u2028\u2029]/g;

export function normalizeLineBreaks(text: string): string {
  return text.replace(LINE_BREAKS, '\n');
}

/**
 * Normalises the line breaks of several consecutive parts at once (a CR at the end of one part and an LF at the start
 * of the next are one break) and returns them, still apart; `parts.join('')` normalised equals the result joined.
 */
export function normalizeParts(parts: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    let p = parts[i];
    if (p.endsWith('\r')) {
      // A CR ending this part whose break goes on with an LF starting the next non-empty part: the LF carries it.
      let j = i + 1;
      while (j < parts.length && parts[j].length === 0) j++;
      if (j < parts.length && parts[j].startsWith('\n')) p = p.slice(0, -1);
    }
    out.push(normalizeLineBreaks(p));
  }
  return out;
}

const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** "⟨U+202E⟩" for each bidirectional control character: the text reads in the order it was written. */
export function visibleControls(text: string): string {
  return text.replace(BIDI_CONTROLS, (c) => `⟨U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

/** Text for one line of a picker or a label: bidi controls made visible, every run of white space (line breaks,
 * U+2028 and U+2029 included) one space. */
export function oneLineVisible(text: string): string {
  return visibleControls(text).replace(/\s+/g, ' ');
}
