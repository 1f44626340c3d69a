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
    assert.deepEqual(r.outsideTrustRegion.map((t) => t.text), [' add']);
    assert.ok(Math.abs(r.tokens[1].p - 0.05) < 1e-12);
    // With alpha 0.6, ' 2+3' (p 0.5), ':' (0.1) and ' add' (0.05) are outside; 'We' (0.9) is not.
    assert.deepEqual(renderRollout(guided, { alpha: 0.6 }).outsideTrustRegion.map((t) => t.text), [' add', ':', ' 2+3']);
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
      rollout({ completion: 'abc', tokens: [{ text: 'a', logprob: 0, entropy: 0, prefix: false }, { text: '\ufffd', logprob: 0, entropy: 0, prefix: false }, { text: 'bc', logprob: 0, entropy: 0, prefix: false }] }),
    );
    assert.equal(r.unplacedTokens, 1);
    assert.deepEqual(r.tokens.map((t) => t.text), ['a', 'bc']);
  });

  it('places a last token whose stored text has a trailing space the completion lacks', () => {
    const r = renderRollout(
      rollout({ completion: 'so \\boxed{5}.', tokens: [{ text: 'so ', logprob: 0, entropy: 0, prefix: false }, { text: '\\boxed{5}. ', logprob: 0, entropy: 0, prefix: false }] }),
    );
    assert.equal(r.unplacedTokens, 0);
    assert.deepEqual(r.tokens.map((t) => r.text.slice(t.start, t.end)), ['so ', '\\boxed{5}.']);
  });

  it('reads alpha from the run config', () => {
    assert.equal(trsftAlpha({ trsft: { alpha: 0.2 } }), 0.2);
    assert.equal(trsftAlpha({ trsft_alpha: 0.05 }), 0.05);
    assert.equal(trsftAlpha({}), DEFAULT_TRSFT_ALPHA);
    assert.equal(trsftAlpha({ trsft: { alpha: 'x' } }), 0.1);
  });
});
