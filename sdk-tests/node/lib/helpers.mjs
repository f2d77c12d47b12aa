// Shared helpers: gateway / fake-provider URLs, the fake's request log, SDK clients.
//
// run.sh exports SWITCHYARD_URL (the gateway) and FAKE_URL (the fake provider).
// Every test resets the fake's request log first and tags its prompt with a
// unique nonce, so a test only ever sees the upstream requests it caused.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

export const SWITCHYARD_URL = (process.env.SWITCHYARD_URL ?? '').replace(/\/+$/, '');
export const FAKE_URL = (process.env.FAKE_URL ?? '').replace(/\/+$/, '');
if (!SWITCHYARD_URL || !FAKE_URL) {
  throw new Error('SWITCHYARD_URL and FAKE_URL must be set (use sdk-tests/run.sh)');
}

export const API_KEY = 'test-key';
export const ANSWER = 'Hello from the fake provider.';
export const MODEL = 'grok-beta';
export const TIMEOUT_MS = 15_000;
export const TEST_OPTS = { timeout: 30_000 };

// Headers a Cloudflare AI Gateway user typically sets on the SDK client. The
// gateway consumes them; none may reach the provider.
export const CF_HEADERS = {
  'cf-aig-metadata': JSON.stringify({ suite: 'sdk-tests', sdk: 'node' }),
  'cf-aig-collect-log': 'true',
};

/** http://HOST/v1/{account}/{gateway}/{provider}: the base URL a user gives the SDK. */
export function gatewayBase(provider, account = 'acct', gateway = 'gw') {
  return `${SWITCHYARD_URL}/v1/${account}/${gateway}/${provider}`;
}

export function newNonce() {
  return `nonce-${randomUUID()}`;
}

// ---------------------------------------------------------------- fake provider

export async function fakeReset() {
  const res = await fetch(`${FAKE_URL}/__fake/reset`, { method: 'POST' });
  assert.ok(res.ok, `fake reset: ${res.status}`);
  await res.arrayBuffer();
}

function asJson(body) {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body);
    } catch {
      return body;
    }
  }
  return body;
}

export async function fakeRequests() {
  const res = await fetch(`${FAKE_URL}/__fake/requests`);
  assert.equal(res.status, 200, 'fake request log');
  const recs = await res.json();
  return recs.map((r) => ({
    ...r,
    headers: Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    json: asJson(r.body),
  }));
}

export async function requestsWith(nonce) {
  return (await fakeRequests()).filter((r) => JSON.stringify(r.body ?? null).includes(nonce));
}

/** The single upstream request carrying `nonce` (fails on retries, duplicates, none). */
export async function onlyRequest(nonce) {
  const recs = await requestsWith(nonce);
  if (recs.length !== 1) {
    const all = (await fakeRequests()).map((r) => `${r.method} ${r.path}`);
    assert.fail(`expected exactly one upstream request carrying ${nonce}, got ${recs.length} (all recorded: ${all})`);
  }
  return recs[0];
}

/** What the fake got: exact method, path and JSON body; the given headers; no cf-aig-*. */
export function assertForwarded(rec, { path, body, headers = {} }) {
  assert.deepEqual([rec.method, rec.path], ['POST', path]);
  assert.deepEqual(rec.json, body, 'upstream JSON body');
  for (const [name, value] of Object.entries(headers)) {
    assert.equal(rec.headers[name.toLowerCase()], value, `upstream header ${name}`);
  }
  const leaked = Object.keys(rec.headers).filter((h) => h.startsWith('cf-aig-'));
  assert.deepEqual(leaked, [], 'cf-aig-* headers reached the provider');
}

/** Assert the SPEC 2.6 gateway-error JSON shape (the part the SDK exposes: `error`). */
export function assertGatewayErrorList(errorList, code) {
  assert.ok(Array.isArray(errorList) && errorList.length > 0, `error list: ${JSON.stringify(errorList)}`);
  assert.equal(errorList[0].code, code, JSON.stringify(errorList));
  assert.equal(typeof errorList[0].message, 'string');
}

// ---------------------------------------------------------------- SDK clients

/**
 * A fetch that records what the SDK put on the wire (URL, headers, body) and
 * otherwise behaves exactly like the global fetch.
 */
export function recordingFetch() {
  const sent = [];
  const fetchFn = async (url, init = {}) => {
    const headers = Object.fromEntries(
      [...new Headers(init.headers ?? {}).entries()].map(([k, v]) => [k.toLowerCase(), v]),
    );
    sent.push({ url: String(url), method: init.method, headers, body: init.body });
    return fetch(url, init);
  };
  return { fetch: fetchFn, sent };
}

/** End-to-end headers the SDK sent that must reach the provider unchanged. */
export function passThroughHeaders(sentHeaders) {
  const keep = ['authorization', 'x-api-key', 'anthropic-version', 'user-agent', 'x-stainless-lang', 'content-type'];
  return Object.fromEntries(Object.entries(sentHeaders).filter(([k]) => keep.includes(k)));
}

export function openaiClient(provider = 'grok', opts = {}) {
  const rec = recordingFetch();
  const client = new OpenAI({
    apiKey: API_KEY,
    baseURL: gatewayBase(provider),
    defaultHeaders: CF_HEADERS,
    maxRetries: 0,
    timeout: TIMEOUT_MS,
    fetch: rec.fetch,
    ...opts,
  });
  return { client, sent: rec.sent };
}

export function anthropicClient(provider = 'grok', opts = {}) {
  const rec = recordingFetch();
  const client = new Anthropic({
    apiKey: API_KEY,
    baseURL: gatewayBase(provider),
    defaultHeaders: CF_HEADERS,
    maxRetries: 0,
    timeout: TIMEOUT_MS,
    fetch: rec.fetch,
    ...opts,
  });
  return { client, sent: rec.sent };
}

export { OpenAI, Anthropic };
