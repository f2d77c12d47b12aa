// Anthropic Node SDK against Switchyard's grok provider endpoint (xAI's /v1/messages).
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import {
  ANSWER,
  API_KEY,
  Anthropic,
  MODEL,
  TEST_OPTS,
  anthropicClient,
  assertForwarded,
  fakeReset,
  newNonce,
  onlyRequest,
  passThroughHeaders,
} from './lib/helpers.mjs';

const messages = (nonce) => [{ role: 'user', content: `Say hello. ${nonce}` }];

function checkUsage(usage) {
  assert.ok(usage && usage.input_tokens > 0 && usage.output_tokens > 0, JSON.stringify(usage));
}

/** The one request the SDK sent, and its pass-through headers (credential included). */
function sentRequest(sent) {
  assert.equal(sent.length, 1, 'the SDK sent one request (no retries)');
  const [req] = sent;
  // The SDK sends the key as x-api-key (older releases) or Authorization: Bearer (newer).
  assert.ok(
    req.headers['x-api-key'] === API_KEY || req.headers.authorization === `Bearer ${API_KEY}`,
    JSON.stringify(req.headers),
  );
  assert.ok(req.headers['anthropic-version'], 'anthropic-version');
  return { headers: passThroughHeaders(req.headers), body: JSON.parse(req.body) };
}

beforeEach(fakeReset);

describe('Anthropic Node SDK, provider endpoint (grok)', () => {
  test('messages.create', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client, sent } = anthropicClient('grok');
    const msg = await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      system: 'You are a test.',
      messages: messages(nonce),
    });
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.model, MODEL);
    assert.deepEqual(msg.content.map((b) => b.type), ['text']);
    assert.equal(msg.content[0].text, ANSWER);
    assert.equal(msg.stop_reason, 'end_turn');
    checkUsage(msg.usage);

    const req = sentRequest(sent);
    const body = { model: MODEL, max_tokens: 64, system: 'You are a test.', messages: messages(nonce) };
    assert.deepEqual(req.body, body);
    assert.match(req.headers['user-agent'], /^Anthropic\/JS /);
    assertForwarded(await onlyRequest(nonce), { path: '/v1/messages', body, headers: req.headers });
  });

  test('messages.stream', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client, sent } = anthropicClient('grok');
    const stream = client.messages.stream({ model: MODEL, max_tokens: 64, messages: messages(nonce) });
    const events = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalMessage();

    const types = events.map((e) => e.type);
    assert.equal(types[0], 'message_start', types.join());
    assert.equal(types.at(-1), 'message_stop', types.join());
    assert.ok(types.includes('message_delta'), types.join());
    const deltas = events.filter((e) => e.type === 'content_block_delta');
    assert.ok(deltas.length >= 2, `expected several text deltas, got ${types.join()}`);
    assert.equal(deltas.map((d) => d.delta.text).join(''), ANSWER);
    assert.equal(final.content[0].text, ANSWER);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.model, MODEL);
    checkUsage(final.usage);

    const req = sentRequest(sent);
    const body = { model: MODEL, max_tokens: 64, messages: messages(nonce), stream: true };
    assert.deepEqual(req.body, body);
    assertForwarded(await onlyRequest(nonce), { path: '/v1/messages', body, headers: req.headers });
  });

  test('upstream 429 surfaces as RateLimitError, untouched', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client } = anthropicClient('grok', { maxRetries: 0 });
    await assert.rejects(
      client.messages.create(
        { model: MODEL, max_tokens: 64, messages: messages(nonce) },
        { headers: { 'x-fake-status': '429' } },
      ),
      (err) => {
        assert.ok(err instanceof Anthropic.RateLimitError, `${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 429);
        assert.doesNotMatch(JSON.stringify(err.error ?? null), /AiGatewayError/);
        return true;
      },
    );
    const rec = await onlyRequest(nonce);
    assert.equal(rec.path, '/v1/messages');
  });
});

describe('Anthropic Node SDK, unified endpoint (compat/v1/messages)', () => {
  /** Translated to grok's native API (chat completions, or xAI's own /v1/messages). */
  function checkCompatUpstream(rec, nonce, stream) {
    assert.equal(rec.method, 'POST');
    assert.ok(['/v1/chat/completions', '/v1/messages'].includes(rec.path), rec.path);
    assert.equal(rec.headers.authorization, `Bearer ${API_KEY}`);
    assert.deepEqual(Object.keys(rec.headers).filter((h) => h.startsWith('cf-aig-')), []);
    assert.equal(rec.json.model, MODEL);
    assert.equal(Boolean(rec.json.stream), stream);
    assert.ok(JSON.stringify(rec.json.messages).includes(nonce));
  }

  test('messages.create grok/grok-beta', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client } = anthropicClient('compat');
    const msg = await client.messages.create({ model: 'grok/grok-beta', max_tokens: 64, messages: messages(nonce) });
    assert.equal(msg.type, 'message');
    assert.ok([MODEL, 'grok/grok-beta'].includes(msg.model), msg.model);
    assert.equal(msg.content[0].text, ANSWER);
    assert.equal(msg.stop_reason, 'end_turn');
    checkUsage(msg.usage);
    checkCompatUpstream(await onlyRequest(nonce), nonce, false);
  });

  test('messages.stream grok/grok-beta', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client } = anthropicClient('compat');
    const stream = client.messages.stream({ model: 'grok/grok-beta', max_tokens: 64, messages: messages(nonce) });
    const events = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalMessage();
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'message_start', types.join());
    assert.equal(types.at(-1), 'message_stop', types.join());
    const deltas = events.filter((e) => e.type === 'content_block_delta');
    assert.ok(deltas.length >= 2, types.join());
    assert.equal(deltas.map((d) => d.delta.text).join(''), ANSWER);
    assert.equal(final.stop_reason, 'end_turn');
    checkUsage(final.usage);
    checkCompatUpstream(await onlyRequest(nonce), nonce, true);
  });
});
