import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderRollout, tokenAt, trsftAlpha, describeToken, DEFAULT_TRSFT_ALPHA } from '../../src/core/rolloutText';
import { rollout } from './rolloutFixtures';

const guided = rollout({
  step: 12,
  prompt_id: 'p7',
  sample: 2,
  stage: 1,
  level: 2,
  prompt: 'Add 2 and 3.',
  prefix: 'We add: 2+3',
  completion: ' = 5. \\boxed{5}',
  reward: 1,
  advantage: -0.25,
  answer: '5',
  extracted: '5',
  sft_owner: true,
  prefix_ratio: 0.5,
  tokens: [
    { text: 'We', logprob: Math.log(0.9), entropy: 0.3, prefix: true },
    { text: ' add', logprob: Math.log(0.05), entropy: 2.1, prefix: true }, // p = 0.05 < 0.1: outside
    { text: ':', logprob: Math.log(0.1), entropy: 0.2, prefix: true }, // p = 0.1: inside (not < alpha)
    { text: ' 2+3', logprob: Math.log(0.5), entropy: 1.0, prefix: true },
    { text: ' =', logprob: Math.log(0.01), entropy: 0.7, prefix: false }, // low p but not prefix: not marked
    { text: ' 5.', logprob: -0.1, entropy: 0.1, prefix: false },
    { text: ' \\boxed{5}', logprob: -0.2, entropy: 0.4, prefix: false },
  ],
});

describe('renderRollout', () => {
  it('writes a header with every field', () => {
    const r = renderRollout(guided, { groupSize: 8, runName: 'demo' });
    const header = r.text.slice(r.header.start, r.header.end).split('\n');
    assert.deepEqual(header, [
      'demo · step 12 · prompt p7 · sample 2 of 8',
      'stage 1 · guidance level 2 · prefix ratio 0.50',
      'reward 1 · advantage -0.25 · SFT loss on prefix: yes',
      'ground truth: 5 · extracted: 5',
      'tokens: 4 prefix, 3 continuation · alpha 0.1',
    ]);
  });

  it('tells the prompt, the prefix and the continuation apart by range', () => {
    const r = renderRollout(guided);
    assert.equal(r.text.slice(r.prompt.start, r.prompt.end), 'Add 2 and 3.');
    assert.equal(r.text.slice(r.prefix.start, r.prefix.end), 'We add: 2+3');
    assert.equal(r.text.slice(r.continuation.start, r.continuation.end), ' = 5. \\boxed{5}');
    // The continuation starts where the prefix ends: 'We add: 2+3' is 11 characters.
    assert.equal(r.continuation.start, r.prefix.start + 11);
  });

  it('places every token and marks prefix tokens with p < alpha', () => {
    const r = renderRollout(guided);
    assert.equal(r.unplacedTokens, 0);
    assert.deepEqual(
      r.tokens.map((t) => r.text.slice(t.start, t.end)),
      ['We', ' add', ':', ' 2+3', ' =', ' 5.', ' \\boxed{5}'],
    );
    // Prefix tokens at offsets 0, 2, 6, 7 of the prefix ('We' + ' add' + ':' + ' 2+3').
    assert.deepEqual(
      r.tokens.slice(0, 4).map((t) => t.start - r.prefix.start),
      [0, 2, 6, 7],
    );
    assert.deepEqual(
      r.outsideTrustRegion.map((t) => t.text),
      [' add'],
    );
    assert.ok(Math.abs(r.tokens[1].p - 0.05) < 1e-12);
    // With alpha 0.6, ' 2+3' (p 0.5), ':' (0.1) and ' add' (0.05) are outside; 'We' (0.9) is not.
    assert.deepEqual(
      renderRollout(guided, { alpha: 0.6 }).outsideTrustRegion.map((t) => t.text),
      [' add', ':', ' 2+3'],
    );
  });

  it('finds the token under an offset and describes it', () => {
    const r = renderRollout(guided);
    const t = tokenAt(r.tokens, r.prefix.start + 3); // 'We add': offset 3 is the 'a' of ' add'
    assert.equal(t?.text, ' add');
    assert.equal(tokenAt(r.tokens, r.header.start), undefined);
    assert.equal(
      describeToken(t!, 0.1),
      'token " add" (expert prefix)\nlog-probability -2.9957 · probability 0.0500 · entropy 2.1000 nats\noutside TrSFT\'s trust region: p < alpha = 0.1',
    );
  });

  it('renders an unguided rollout without tokens and with a multi-line answer', () => {
    const r = renderRollout(rollout({ prefix: '', completion: 'x', answer: 'a\nb', extracted: null }));
    assert.equal(r.prefix.start, r.prefix.end);
    assert.equal(r.text.slice(r.continuation.start, r.continuation.end), 'x');
    assert.match(r.text, /ground truth: a ⏎ b · extracted: \(none\)/);
    assert.deepEqual(r.tokens, []);
  });

  it('counts tokens whose text is not in the response instead of misplacing them', () => {
    const r = renderRollout(
      rollout({
        completion: 'abc',
        tokens: [
          { text: 'a', logprob: 0, entropy: 0, prefix: false },
          { text: '\ufffd', logprob: 0, entropy: 0, prefix: false },
          { text: 'bc', logprob: 0, entropy: 0, prefix: false },
        ],
      }),
    );
    assert.equal(r.unplacedTokens, 1);
    assert.deepEqual(
      r.tokens.map((t) => t.text),
      ['a', 'bc'],
    );
  });

  it('places a last token whose stored text has a trailing space the completion lacks', () => {
    const r = renderRollout(
      rollout({
        completion: 'so \\boxed{5}.',
        tokens: [
          { text: 'so ', logprob: 0, entropy: 0, prefix: false },
          { text: '\\boxed{5}. ', logprob: 0, entropy: 0, prefix: false },
        ],
      }),
    );
    assert.equal(r.unplacedTokens, 0);
    assert.deepEqual(
      r.tokens.map((t) => r.text.slice(t.start, t.end)),
      ['so ', '\\boxed{5}.'],
    );
  });

  it('reads alpha from the run config', () => {
    assert.equal(trsftAlpha({ trsft: { alpha: 0.2 } }), 0.2);
    assert.equal(trsftAlpha({ trsft_alpha: 0.05 }), 0.05);
    assert.equal(trsftAlpha({}), DEFAULT_TRSFT_ALPHA);
    assert.equal(trsftAlpha({ trsft: { alpha: 'x' } }), 0.1);
  });
});

describe('renderRollout with each kind of line break', () => {
  // The same two-line prefix and continuation written with LF, CR LF, a lone CR, U+2028 and U+2029, the CR LF also
  // split over the prefix and the completion and over two tokens.
  for (const [name, br] of [
    ['LF', '\n'],
    ['CR LF', '\r\n'],
    ['lone CR', '\r'],
    ['U+2028', '\u2028'],
    ['U+2029', '\u2029'],
  ] as const) {
    it(`${name}: the text has LF only and every token is placed on the same characters as with LF`, () => {
      const rec = rollout({
        prompt: `Add 2${br}and 3.`,
        prefix: `We add:${br}2+3`,
        completion: ` = 5.${br}\\boxed{5}`,
        answer: `5${br}`,
        tokens: [
          { text: 'We', logprob: -0.1, entropy: 0.1, prefix: true },
          { text: ` add:${br}`, logprob: -0.1, entropy: 0.1, prefix: true },
          { text: '2+3', logprob: -0.1, entropy: 0.1, prefix: true },
          { text: ` = 5.${br}`, logprob: -0.1, entropy: 0.1, prefix: false },
          { text: '\\boxed{5}', logprob: -0.1, entropy: 0.1, prefix: false },
        ],
      });
      const r = renderRollout(rec);
      assert.doesNotMatch(r.text, /[\r\u2028\u2029]/);
      assert.equal(r.unplacedTokens, 0);
      assert.equal(r.text.slice(r.prompt.start, r.prompt.end), 'Add 2\nand 3.');
      assert.equal(r.text.slice(r.prefix.start, r.prefix.end), 'We add:\n2+3');
      assert.equal(r.text.slice(r.continuation.start, r.continuation.end), ' = 5.\n\\boxed{5}');
      assert.deepEqual(
        r.tokens.map((t) => r.text.slice(t.start, t.end)),
        ['We', ' add:\n', '2+3', ' = 5.\n', '\\boxed{5}'],
      );
      assert.match(r.text, /ground truth: 5 ⏎ {2}·/);
      // What a document would hold (VS Code keeps LF text as it is): the ranges still fit.
      const lf = renderRollout(
        rollout({
          ...rec,
          prompt: 'Add 2\nand 3.',
          prefix: 'We add:\n2+3',
          completion: ' = 5.\n\\boxed{5}',
          answer: '5\n',
          tokens: rec.tokens!.map((t) => ({ ...t, text: t.text.replace(br, '\n') })),
        }),
      );
      assert.equal(r.text, lf.text);
      assert.deepEqual(
        r.tokens.map((t) => [t.start, t.end]),
        lf.tokens.map((t) => [t.start, t.end]),
      );
    });
  }

  it('a CR LF split between the prefix and the completion, and between two tokens, is one line break', () => {
    const r = renderRollout(
      rollout({
        prefix: 'a\r',
        completion: '\nb',
        tokens: [
          { text: 'a', logprob: -0.1, entropy: 0.1, prefix: true },
          { text: '\r', logprob: -0.1, entropy: 0.1, prefix: true },
          { text: '\n', logprob: -0.1, entropy: 0.1, prefix: false },
          { text: 'b', logprob: -0.1, entropy: 0.1, prefix: false },
        ],
      }),
    );
    assert.equal(r.text.slice(r.prefix.start, r.continuation.end), 'a\nb');
    assert.equal(r.unplacedTokens, 0);
    assert.deepEqual(
      r.tokens.map((t) => r.text.slice(t.start, t.end)),
      ['a', '\n', 'b'],
    );
  });
});

describe('visible bidirectional controls', () => {
  it('replaces each control with a marker naming it, so an override cannot reverse the text in a picker', async () => {
    const { visibleControls, oneLineVisible } = await import('../../src/core/visibleText');
    assert.equal(visibleControls('abc\u202Edef\u202C'), 'abc⟨U+202E⟩def⟨U+202C⟩');
    assert.equal(visibleControls('\u2066x\u2069 \u200F\u200E\u061C'), '⟨U+2066⟩x⟨U+2069⟩ ⟨U+200F⟩⟨U+200E⟩⟨U+061C⟩');
    assert.equal(visibleControls('plain العربية text'), 'plain العربية text', 'right-to-left letters are text, not controls');
    assert.equal(oneLineVisible('two\r\nlines\u2028and\u202Eme'), 'two lines and⟨U+202E⟩me');
  });
});
