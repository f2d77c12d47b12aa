// OpenAI Node SDK against Switchyard: provider endpoint (grok) and the unified /compat endpoint.
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import {
  ANSWER,
  API_KEY,
  MODEL,
  OpenAI,
  TEST_OPTS,
  assertForwarded,
  assertGatewayErrorList,
  fakeReset,
  newNonce,
  onlyRequest,
  openaiClient,
  passThroughHeaders,
  requestsWith,
} from './lib/helpers.mjs';

const messages = (nonce) => [
  { role: 'system', content: 'You are a test.' },
  { role: 'user', content: `Say hello. ${nonce}` },
];

function checkCompletion(resp, model = MODEL) {
  assert.equal(resp.object, 'chat.completion');
  assert.equal(resp.model, model);
  assert.equal(resp.choices.length, 1);
  const [choice] = resp.choices;
  assert.equal(choice.message.role, 'assistant');
  assert.equal(choice.message.content, ANSWER);
  assert.equal(choice.finish_reason, 'stop');
  const u = resp.usage;
  assert.ok(u && u.prompt_tokens > 0 && u.completion_tokens > 0, JSON.stringify(u));
  assert.ok(u.total_tokens >= u.prompt_tokens + u.completion_tokens, JSON.stringify(u));
}

async function collectStream(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk); // ends at data: [DONE]; throws on a broken stream
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  return { chunks, text };
}

function checkStream({ chunks, text }, models = [MODEL]) {
  const contentChunks = chunks.filter((c) => c.choices[0]?.delta?.content);
  assert.ok(contentChunks.length >= 2, `expected several content chunks, got ${contentChunks.length}`);
  assert.equal(text, ANSWER);
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.ok(models.includes(c.model), c.model);
  }
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'all chunks share one id');
  const finishes = chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean);
  assert.deepEqual(finishes, ['stop']);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage && last.usage.prompt_tokens > 0 && last.usage.completion_tokens > 0, JSON.stringify(last.usage));
  assert.ok(last.usage.total_tokens >= last.usage.prompt_tokens + last.usage.completion_tokens);
}

/** The one request the SDK sent, and its pass-through headers. */
function sentRequest(sent) {
  assert.equal(sent.length, 1, 'the SDK sent one request (no retries)');
  const [req] = sent;
  assert.equal(req.headers.authorization, `Bearer ${API_KEY}`);
  return { headers: passThroughHeaders(req.headers), body: JSON.parse(req.body) };
}

beforeEach(fakeReset);

describe('OpenAI Node SDK, provider endpoint (grok)', () => {
  test('chat.completions.create', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client, sent } = openaiClient('grok');
    const resp = await client.chat.completions.create({
      model: MODEL,
      messages: messages(nonce),
      temperature: 0.2,
      max_tokens: 64,
    });
    checkCompletion(resp);

    const req = sentRequest(sent);
    const body = { model: MODEL, messages: messages(nonce), temperature: 0.2, max_tokens: 64 };
    assert.deepEqual(req.body, body);
    assert.match(req.headers['user-agent'], /^OpenAI\/JS /);
    assertForwarded(await onlyRequest(nonce), { path: '/v1/chat/completions', body, headers: req.headers });
  });

  test('chat.completions.create stream', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client, sent } = openaiClient('grok');
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: messages(nonce),
      stream: true,
      stream_options: { include_usage: true },
    });
    checkStream(await collectStream(stream));

    const req = sentRequest(sent);
    const body = { model: MODEL, messages: messages(nonce), stream: true, stream_options: { include_usage: true } };
    assert.deepEqual(req.body, body);
    assertForwarded(await onlyRequest(nonce), { path: '/v1/chat/completions', body, headers: req.headers });
  });

  test('stream is relayed chunk by chunk, not buffered', TEST_OPTS, async () => {
    const nonce = newNonce();
    const delayMs = 150;
    const { client } = openaiClient('grok');
    const start = performance.now();
    const stream = await client.chat.completions.create(
      { model: MODEL, messages: messages(nonce), stream: true },
      { headers: { 'x-fake-chunks': '6', 'x-fake-chunk-delay-ms': String(delayMs) } },
    );
    const arrivals = [];
    for await (const _chunk of stream) arrivals.push(performance.now() - start);
    assert.ok(arrivals.length >= 6, `got ${arrivals.length} chunks`);
    const total = arrivals.at(-1);
    assert.ok(total >= 4 * delayMs, `fake did not pace the stream (took ${total} ms)`);
    assert.ok(arrivals[0] < total - 2 * delayMs, `first chunk at ${arrivals[0]} ms, last at ${total} ms: buffered`);
    await onlyRequest(nonce);
  });

  test('upstream 429 surfaces as RateLimitError, untouched', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client } = openaiClient('grok', { maxRetries: 0 });
    await assert.rejects(
      client.chat.completions.create(
        { model: MODEL, messages: messages(nonce) },
        { headers: { 'x-fake-status': '429' } },
      ),
      (err) => {
        assert.ok(err instanceof OpenAI.RateLimitError, `${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 429);
        assert.doesNotMatch(String(err.message), /AiGatewayError/);
        return true;
      },
    );
    const rec = await onlyRequest(nonce); // one attempt: no gateway retry by default
    assert.equal(rec.path, '/v1/chat/completions');
    assert.equal(rec.headers['x-fake-status'], '429');
  });
});

describe('OpenAI Node SDK, unified endpoint (compat)', () => {
  test('chat.completions.create grok/grok-beta', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client } = openaiClient('compat');
    const resp = await client.chat.completions.create({ model: 'grok/grok-beta', messages: messages(nonce), max_tokens: 32 });
    assert.ok([MODEL, 'grok/grok-beta'].includes(resp.model), resp.model);
    checkCompletion(resp, resp.model);
    assertForwarded(await onlyRequest(nonce), {
      path: '/v1/chat/completions',
      body: { model: MODEL, messages: messages(nonce), max_tokens: 32 },
      headers: { authorization: `Bearer ${API_KEY}` },
    });
  });

  test('chat.completions.create grok/grok-beta stream', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client } = openaiClient('compat');
    const stream = await client.chat.completions.create({
      model: 'grok/grok-beta',
      messages: messages(nonce),
      stream: true,
      stream_options: { include_usage: true },
    });
    checkStream(await collectStream(stream), [MODEL, 'grok/grok-beta']);
    assertForwarded(await onlyRequest(nonce), {
      path: '/v1/chat/completions',
      body: { model: MODEL, messages: messages(nonce), stream: true, stream_options: { include_usage: true } },
      headers: { authorization: `Bearer ${API_KEY}` },
    });
  });

  for (const model of ['nope/x', 'grok-beta']) {
    test(`model ${model} -> BadRequestError 400, code 2008`, TEST_OPTS, async () => {
      const nonce = newNonce();
      const { client } = openaiClient('compat');
      await assert.rejects(client.chat.completions.create({ model, messages: messages(nonce) }), (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 400);
        // openai-node exposes the body's `error` member: SPEC 2.6's error list.
        assertGatewayErrorList(err.error, 2008);
        return true;
      });
      assert.deepEqual(await requestsWith(nonce), [], 'nothing may be sent upstream');
    });
  }
});

describe('OpenAI Node SDK, more of the contract', () => {
  test('response headers via .withResponse() (SPEC 2.5)', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client } = openaiClient('grok');
    const { data, response } = await client.chat.completions
      .create({ model: MODEL, messages: messages(nonce) }, { headers: { 'cf-aig-event-id': nonce } })
      .withResponse();
    checkCompletion(data);
    const logId = response.headers.get('cf-aig-log-id');
    assert.match(logId ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, `cf-aig-log-id: ${logId}`);
    assert.equal(response.headers.get('cf-aig-event-id'), nonce);
    assert.ok(response.headers.get('x-request-id'), 'provider response headers pass through');
    await onlyRequest(nonce);
  });

  test('a gzip-compressed answer passes through and the SDK reads it', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client } = openaiClient('grok');
    const { data, response } = await client.chat.completions
      .create({ model: MODEL, messages: messages(nonce) }, { headers: { 'x-fake-encoding': 'gzip' } })
      .withResponse();
    checkCompletion(data);
    // The fake compresses only in a coding the request accepts: fetch's own Accept-Encoding
    // reached it through the gateway.
    const accepted = (await onlyRequest(nonce)).headers['accept-encoding'] ?? '';
    assert.match(accepted, /\bgzip\b/, `accept-encoding forwarded: ${accepted}`);
    assert.equal(response.headers.get('content-encoding'), 'gzip');
  });

  test('compat google-ai-studio/gemini-2.5-flash is translated to Gemini, plain and streaming', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client } = openaiClient('compat');
    const resp = await client.chat.completions.create({
      model: 'google-ai-studio/gemini-2.5-flash',
      messages: messages(nonce),
    });
    assert.ok(['gemini-2.5-flash', 'google-ai-studio/gemini-2.5-flash'].includes(resp.model), resp.model);
    checkCompletion(resp, resp.model);
    const rec = await onlyRequest(nonce);
    assert.deepEqual([rec.method, rec.path], ['POST', '/v1beta/models/gemini-2.5-flash:generateContent']);
    assert.equal(rec.headers['x-goog-api-key'], API_KEY, 'credential in x-goog-api-key');

    const nonce2 = newNonce();
    const stream = await client.chat.completions.create({
      model: 'google-ai-studio/gemini-2.5-flash',
      messages: messages(nonce2),
      stream: true,
      stream_options: { include_usage: true },
    });
    checkStream(await collectStream(stream), ['gemini-2.5-flash', 'google-ai-studio/gemini-2.5-flash']);
    const rec2 = await onlyRequest(nonce2);
    assert.equal(rec2.path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  });

  test('compat anthropic/claude-haiku-4-5 is translated to Anthropic Messages', TEST_OPTS, async () => {
    const nonce = newNonce();
    const { client } = openaiClient('compat');
    const resp = await client.chat.completions.create({
      model: 'anthropic/claude-haiku-4-5',
      messages: messages(nonce),
      max_tokens: 64,
    });
    assert.ok(['claude-haiku-4-5', 'anthropic/claude-haiku-4-5'].includes(resp.model), resp.model);
    checkCompletion(resp, resp.model);
    const rec = await onlyRequest(nonce);
    assert.deepEqual([rec.method, rec.path], ['POST', '/v1/messages']);
    assert.equal(rec.headers['x-api-key'], API_KEY, 'credential in x-api-key');
    assert.ok(rec.headers['anthropic-version'], 'anthropic-version set');
    assert.equal(rec.json.model, 'claude-haiku-4-5');
    assert.equal(rec.json.max_tokens, 64);
    assert.ok(JSON.stringify(rec.json.system ?? '').includes('You are a test.'), JSON.stringify(rec.json));
    assert.deepEqual(rec.json.messages.map((m) => m.role), ['user']);
  });
});
