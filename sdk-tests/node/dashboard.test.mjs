// The web dashboard (SPEC 4), driven as a browser would: jsdom loads GET / from the gateway,
// fetches its script and runs it; the page talks to the control plane over real HTTP. The
// tests read what the page shows and what its buttons change on the server.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { JSDOM } from 'jsdom';

import { ANSWER, MODEL, SWITCHYARD_URL, TEST_OPTS, newNonce } from './lib/helpers.mjs';

const AUTH_URL = (process.env.SWITCHYARD_AUTH_URL ?? '').replace(/\/+$/, '');
const ADMIN_TOKEN = process.env.SWITCHYARD_ADMIN_TOKEN ?? '';

async function until(what, fn, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function control(path, init) {
  const res = await fetch(`${SWITCHYARD_URL}/client/v4${path}`, init);
  const body = await res.json();
  assert.equal(body.success, true, JSON.stringify(body));
  return body;
}

/** Whether `path` under /client/v4 answers 2xx. */
async function exists(path) {
  const r = await fetch(`${SWITCHYARD_URL}/client/v4${path}`);
  await r.arrayBuffer();
  return r.ok;
}

/** Waits until the log record `logId` of `account`/`gateway` is stored. */
async function waitForLog(account, gateway, logId) {
  await until('the log record', () => exists(`/accounts/${account}/ai-gateway/gateways/${gateway}/logs/${logId}`));
}

/** Sends one chat completion through the gateway and waits until its log is stored. */
async function chat(account, gateway, prompt, headers = {}) {
  const res = await fetch(`${SWITCHYARD_URL}/v1/${account}/${gateway}/grok/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer test-key', ...headers },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: prompt }] }),
  });
  await res.arrayBuffer();
  const logId = res.headers.get('cf-aig-log-id');
  assert.ok(logId, 'cf-aig-log-id');
  await waitForLog(account, gateway, logId);
  return { status: res.status, logId };
}

/** Opens the dashboard at `query` and waits for its first render. */
async function openDashboard(query) {
  let inFlight = 0;
  const dom = await JSDOM.fromURL(`${SWITCHYARD_URL}/${query}`, {
    runScripts: 'dangerously',
    resources: 'usable',
    pretendToBeVisual: true,
    beforeParse(window) {
      // jsdom has no fetch of its own: the page's calls go over the network with Node's. The
      // body is read here, so that `inFlight` counts each call until the page holds its answer.
      window.fetch = async (url, init) => {
        inFlight += 1;
        try {
          const res = await fetch(new URL(String(url), window.location.href), init);
          const body = await res.arrayBuffer();
          return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
        } finally {
          inFlight -= 1;
        }
      };
      window.confirm = () => true;
    },
  });
  dom.idle = () => inFlight === 0;
  const doc = dom.window.document;
  await until('the dashboard to start', () => doc.body && doc.body.dataset.ready === 'true');
  return dom;
}

/**
 * Closes a dashboard once none of its calls is in flight and it has drawn their answers: a
 * browser stops a page's scripts when it closes, but jsdom lets an answer that arrives later
 * run the page's code against a window with no document.
 */
async function closeDashboard(dom) {
  const deadline = Date.now() + 10_000;
  for (let quiet = 0; quiet < 3 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 20));
    quiet = dom.idle() ? quiet + 1 : 0;
  }
  dom.window.close();
}

const text = (doc, sel) => doc.querySelector(sel)?.textContent ?? '';
const rows = (doc, sel) => [...doc.querySelectorAll(`${sel} tbody tr`)];

test('the dashboard shows a gateway\'s traffic, its logs with bodies, and edits settings', TEST_OPTS, async () => {
  const account = `dash-${newNonce().slice(6, 18)}`;
  const nonce = newNonce();
  await chat(account, 'main', `hello ${nonce}`);
  await chat(account, 'main', `again ${nonce}`);
  const failed = await chat(account, 'main', `fails ${nonce}`, { 'x-fake-status': '500' });
  assert.equal(failed.status, 500);

  const dom = await openDashboard(`?account=${account}`);
  const { document: doc } = dom.window;
  try {
    assert.equal(text(doc, '#status'), '', 'no error shown');
    assert.equal(doc.querySelector('#account').value, account);
    assert.equal(doc.querySelector('#gateway').value, 'main');

    // Overview: totals, six charts, the per-model table.
    const tiles = Object.fromEntries([...doc.querySelectorAll('#tiles .tile')].map((t) => [
      t.querySelector('.label').textContent, t.querySelector('.value').textContent,
    ]));
    assert.equal(tiles.Requests, '3');
    assert.match(tiles.Errors, /^1 \(33\.3%\)$/);
    assert.equal(tiles['Cache hit rate'], '0.0%');
    assert.notEqual(tiles['Tokens in'], '0');
    const charts = [...doc.querySelectorAll('#charts .chart')].map((c) => c.dataset.chart);
    assert.deepEqual(charts, ['Requests', 'Errors', 'Cache hit rate', 'Tokens', 'Cost (USD)', 'Latency']);
    assert.ok(doc.querySelector('#charts .chart path'), 'the requests line is drawn');
    const breakdown = rows(doc, '#breakdown').map((r) => [...r.cells].map((c) => c.textContent));
    assert.equal(breakdown.length, 1);
    assert.deepEqual(breakdown[0].slice(0, 4), ['grok', MODEL, '3', '1']);

    // Logs: newest first; a filter; a record with its stored bodies; feedback.
    doc.querySelector('nav button[data-view="logs"]').click();
    await until('three log rows', () => rows(doc, '#logs').filter((r) => r.dataset.id).length === 3);
    assert.equal(rows(doc, '#logs')[0].dataset.id, failed.logId);
    assert.equal(rows(doc, '#logs')[0].cells[1].textContent, '500');
    const form = doc.querySelector('#log-filters');
    form.elements.success.value = 'false';
    form.dispatchEvent(new dom.window.Event('submit', { cancelable: true }));
    await until('the filtered list', () => rows(doc, '#logs').length === 1 && rows(doc, '#logs')[0].dataset.id === failed.logId);
    form.elements.success.value = 'true';
    form.dispatchEvent(new dom.window.Event('submit', { cancelable: true }));
    await until('the successes', () => rows(doc, '#logs').length === 2);
    assert.match(text(doc, '#page-info'), /page 1 of 1 \(2 logs\)/);
    const first = rows(doc, '#logs')[0];
    first.click();
    await until('the log detail', () => !doc.querySelector('#log-detail').hidden && text(doc, '#detail-title') === first.dataset.id);
    assert.match(text(doc, '#detail-request'), new RegExp(`again ${nonce}`));
    assert.match(text(doc, '#detail-response'), new RegExp(ANSWER.replace('.', '\\.')));
    // The stored headers, credentials redacted.
    assert.match(text(doc, '#detail-request-headers'), /^authorization: REDACTED$/m);
    assert.match(text(doc, '#detail-response-headers'), /^content-type: application\/json/m);
    doc.querySelector('#feedback-up').click();
    const base = `/accounts/${account}/ai-gateway/gateways/main`;
    await until('feedback stored', async () => (await control(`${base}/logs/${first.dataset.id}`)).result.feedback === 1);

    // A status filter, then deleting what it matches.
    form.elements.success.value = '';
    form.elements.status_code.value = '500';
    form.dispatchEvent(new dom.window.Event('submit', { cancelable: true }));
    await until('the 500 alone', () => rows(doc, '#logs').length === 1 && rows(doc, '#logs')[0].dataset.id === failed.logId);
    // An edit not applied yet changes nothing: the delete takes the filters on screen.
    form.elements.status_code.value = '200';
    let asked = '';
    const confirmed = dom.window.confirm;
    dom.window.confirm = (q) => { asked = q; return true; };
    doc.querySelector('#delete-logs').click();
    dom.window.confirm = confirmed;
    await until('the question', () => asked !== '');
    assert.match(asked, /status_code.*500/);
    await until('the 500 deleted', async () => (await control(`${base}/logs`)).result_info.total_count === 2);
    await until('an empty list', () => rows(doc, '#logs').every((r) => !r.dataset.id));
    assert.match(text(doc, '#status'), /^Deleted 1 log\.$/);

    // Gateways: change a setting, create a gateway.
    doc.querySelector('nav button[data-view="gateways"]').click();
    await until('the settings form', () => !doc.querySelector('#settings').hidden);
    const settings = doc.querySelector('#settings');
    settings.elements.cache_ttl.value = '120';
    settings.elements.rate_limiting_technique.value = 'sliding';
    settings.dispatchEvent(new dom.window.Event('submit', { cancelable: true }));
    await until('the saved settings', async () => (await control(base)).result.cache_ttl === 120);
    assert.equal((await control(base)).result.rate_limiting_technique, 'sliding');
    assert.equal((await control(base)).result.collect_logs, true, 'untouched settings kept');

    // Stored provider keys: add one, see only its preview, delete it.
    await until('the keys panel', () => !doc.querySelector('#keys-panel').hidden);
    const keyForm = doc.querySelector('#new-key');
    keyForm.elements.provider_slug.value = 'grok';
    keyForm.elements.alias.value = 'team-a';
    keyForm.elements.secret.value = 'xai-dashboard-secret-1234';
    keyForm.dispatchEvent(new dom.window.Event('submit', { cancelable: true }));
    await until('the stored key row', () => rows(doc, '#keys').some((r) => r.dataset.id));
    const keyRow = rows(doc, '#keys').find((r) => r.dataset.id);
    assert.deepEqual([...keyRow.cells].slice(0, 2).map((c) => c.textContent), ['grok', 'team-a']);
    assert.ok(!doc.body.textContent.includes('xai-dashboard-secret-1234'), 'the secret is not shown');
    assert.equal(keyForm.elements.secret.value, '', 'the secret field is cleared');
    const stored = (await control(`${base}/provider_configs`)).result;
    assert.deepEqual(stored.map((k) => [k.provider_slug, k.alias]), [['grok', 'team-a']]);
    keyRow.querySelector('button').click();
    await until('the key deleted', async () => (await control(`${base}/provider_configs`)).result.length === 0);
    await until('the empty key table', () => !rows(doc, '#keys').some((r) => r.dataset.id));
    doc.querySelector('#new-gateway-id').value = 'second';
    doc.querySelector('#new-gateway').dispatchEvent(new dom.window.Event('submit', { cancelable: true }));
    await until('the new gateway', () => exists(`/accounts/${account}/ai-gateway/gateways/second`));
    await until('the new gateway selected', () => doc.querySelector('#gateway').value === 'second');
    assert.deepEqual(rows(doc, '#gateways').map((r) => r.dataset.id), ['main', 'second']);
  } finally {
    await closeDashboard(dom);
  }
});

test('logs filter by metadata key and value', TEST_OPTS, async () => {
  const account = `dash-${newNonce().slice(6, 18)}`;
  const alice = await chat(account, 'gw', `hi ${newNonce()}`, { 'cf-aig-metadata': JSON.stringify({ user: 'alice', team: 'a' }) });
  const bob = await chat(account, 'gw', `hi ${newNonce()}`, { 'cf-aig-metadata': JSON.stringify({ user: 'bob' }) });
  await chat(account, 'gw', `hi ${newNonce()}`);
  const dom = await openDashboard(`?account=${account}&gateway=gw&view=logs`);
  const { document: doc } = dom.window;
  try {
    await until('the three logs', () => rows(doc, '#logs').filter((r) => r.dataset.id).length === 3);
    const form = doc.querySelector('#log-filters');
    const shown = () => rows(doc, '#logs').filter((r) => r.dataset.id).map((r) => r.dataset.id).sort();
    form.elements.metadata_key.value = 'user';
    form.dispatchEvent(new dom.window.Event('submit', { cancelable: true }));
    await until('the two with a user', () => shown().length === 2);
    assert.deepEqual(shown(), [alice.logId, bob.logId].sort());
    form.elements.metadata_value.value = 'alice';
    form.dispatchEvent(new dom.window.Event('submit', { cancelable: true }));
    await until('alice alone', () => shown().length === 1);
    assert.deepEqual(shown(), [alice.logId]);
    form.elements.metadata_key.value = '';
    form.elements.metadata_value.value = 'nobody';
    form.dispatchEvent(new dom.window.Event('submit', { cancelable: true }));
    await until('no match', () => shown().length === 0);

    // Rows open from the keyboard as well as by click.
    form.elements.metadata_value.value = 'alice';
    form.elements.metadata_key.value = 'user';
    form.dispatchEvent(new dom.window.Event('submit', { cancelable: true }));
    await until('alice again', () => shown().length === 1);
    const row = rows(doc, '#logs')[0];
    assert.equal(row.tabIndex, 0);
    row.dispatchEvent(new dom.window.KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    await until('the detail from the keyboard', () => !doc.querySelector('#log-detail').hidden && text(doc, '#detail-title') === alice.logId);
  } finally {
    await closeDashboard(dom);
  }
});

test('the dashboard lists accounts and explains an account without gateways', TEST_OPTS, async () => {
  const account = `dash-${newNonce().slice(6, 18)}`;
  await chat(account, 'gw', `hi ${newNonce()}`);
  const listed = await control('/accounts?per_page=50');
  assert.ok(listed.result.some((a) => a.id === account), 'GET /client/v4/accounts lists it');

  const dom = await openDashboard('?account=nobody-here');
  const { document: doc } = dom.window;
  try {
    assert.match(text(doc, '#status'), /has no gateways yet/);
    assert.ok([...doc.querySelectorAll('#accounts option')].some((o) => o.value === account));
  } finally {
    await closeDashboard(dom);
  }
});

test('with an admin_token the dashboard asks for it (HTTP Basic) and the page\'s API calls accept it', TEST_OPTS, async () => {
  assert.ok(AUTH_URL && ADMIN_TOKEN, 'run.sh exports SWITCHYARD_AUTH_URL and SWITCHYARD_ADMIN_TOKEN');
  const basic = (user, pass) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

  const bare = await fetch(`${AUTH_URL}/`);
  assert.equal(bare.status, 401);
  assert.match(bare.headers.get('www-authenticate') ?? '', /^Basic realm="Switchyard"/);
  await bare.arrayBuffer();

  const wrong = await fetch(`${AUTH_URL}/`, { headers: { authorization: basic('admin', 'nope') } });
  assert.equal(wrong.status, 401);
  await wrong.arrayBuffer();

  const page = await fetch(`${AUTH_URL}/`, { headers: { authorization: basic('admin', ADMIN_TOKEN) } });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.match(page.headers.get('content-security-policy'), /script-src 'self'/);
  assert.match(await page.text(), /<script src="\/dashboard\/app\.js"/);

  // The browser sends the same Basic credentials with the page's own API calls.
  for (const auth of [basic('admin', ADMIN_TOKEN), basic(ADMIN_TOKEN, ''), `Bearer ${ADMIN_TOKEN}`]) {
    const res = await fetch(`${AUTH_URL}/client/v4/accounts`, { headers: { authorization: auth } });
    assert.equal(res.status, 200, auth);
    assert.equal((await res.json()).success, true);
  }
  const refused = await fetch(`${AUTH_URL}/client/v4/accounts`, { headers: { authorization: basic('admin', 'nope') } });
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).success, false);

  // The script and stylesheet hold no data and need no credentials.
  for (const [path, type] of [['/dashboard/app.js', /^text\/javascript/], ['/dashboard/app.css', /^text\/css/]]) {
    const res = await fetch(`${AUTH_URL}${path}`);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type'), type);
    await res.arrayBuffer();
  }
});

test('what a browser could be made to do is refused: foreign origins, rebinding, stored bodies as pages', TEST_OPTS, async () => {
  const account = `dash-${newNonce().slice(6, 18)}`;
  // A request whose body and model name are markup: the page shows them as text.
  const res = await fetch(`${SWITCHYARD_URL}/v1/${account}/gw/grok/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'text/html', authorization: 'Bearer test-key' },
    body: JSON.stringify({ model: '<img src=x id=pwned>', messages: [{ role: 'user', content: '<script>1</script>' }] }),
  });
  await res.arrayBuffer();
  const logId = res.headers.get('cf-aig-log-id');
  const base = `${SWITCHYARD_URL}/client/v4/accounts/${account}/ai-gateway/gateways/gw`;
  await waitForLog(account, 'gw', logId);
  const stored = await fetch(`${base}/logs/${logId}/request`);
  assert.equal(stored.status, 200);
  assert.match(stored.headers.get('content-type'), /^text\/html/, 'served as it was sent');
  assert.equal(stored.headers.get('x-content-type-options'), 'nosniff');
  assert.match(stored.headers.get('content-security-policy') ?? '', /^sandbox/);
  await stored.arrayBuffer();

  const dom = await openDashboard(`?account=${account}&view=logs&log=${logId}`);
  const { document: doc } = dom.window;
  try {
    await until('the log row and its detail', () => rows(doc, '#logs').length === 1 && text(doc, '#detail-title') === logId);
    assert.equal(doc.querySelector('#pwned'), null, 'no markup from the log');
    assert.equal(rows(doc, '#logs')[0].cells[3].textContent, '<img src=x id=pwned>');
    assert.match(text(doc, '#detail-request'), /<script>1<\/script>/);
  } finally {
    await closeDashboard(dom);
  }

  // Requests a page on another site could make a browser send.
  const create = (headers) => fetch(`${SWITCHYARD_URL}/client/v4/accounts/${account}/ai-gateway/gateways`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', ...headers },
    body: JSON.stringify({ id: 'planted' }),
  });
  for (const headers of [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }]) {
    const r = await create(headers);
    assert.equal(r.status, 403, JSON.stringify(headers));
    const body = await r.json();
    assert.equal(body.success, false);
  }
  const own = await create({ origin: SWITCHYARD_URL, 'sec-fetch-site': 'same-origin' });
  assert.equal(own.status, 200, 'the dashboard\'s own origin is served');
  await own.arrayBuffer();

  // Without an admin_token, only requests addressed to a loopback name (DNS rebinding).
  const { request } = await import('node:http');
  const hostStatus = (host, path) => new Promise((resolve, reject) => {
    const u = new URL(SWITCHYARD_URL);
    const req = request({ host: u.hostname, port: u.port, path, headers: { host } }, (r) => {
      r.resume();
      r.on('end', () => resolve(r.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
  const port = new URL(SWITCHYARD_URL).port;
  assert.equal(await hostStatus(`evil.example:${port}`, '/client/v4/accounts'), 403);
  assert.equal(await hostStatus(`evil.example:${port}`, '/'), 403);
  assert.equal(await hostStatus(`localhost:${port}`, '/client/v4/accounts'), 200);
  assert.equal(await hostStatus(`localhost:${port}`, '/'), 200);
});

/**
 * Streams `body` through `/v1/{account}/gw/{path}`, then opens that request's log detail in the
 * dashboard: the stream as the client got it and the response pane's text.
 */
async function streamedDetail(account, path, headers, body) {
  const res = await fetch(`${SWITCHYARD_URL}/v1/${account}/gw/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const sse = await res.text();
  assert.equal(res.status, 200, sse.slice(0, 300));
  const logId = res.headers.get('cf-aig-log-id');
  await waitForLog(account, 'gw', logId);
  const dom = await openDashboard(`?account=${account}&log=${logId}`);
  const { document: doc } = dom.window;
  try {
    await until('the detail', () => text(doc, '#detail-title') === logId);
    return { sse, shown: text(doc, '#detail-response') };
  } finally {
    await closeDashboard(dom);
  }
}

// A tool offered to the model, so that the fake answers with a call to it.
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' }, days: { type: 'integer' } },
    required: ['city', 'days'],
  },
};

/** The arguments shown for `name` in the detail pane: `[tool call] name({...})`, parsed. */
function shownCall(shown, name) {
  const line = shown.split('\n').find((l) => l.startsWith(`[tool call] ${name}(`));
  assert.ok(line, `a tool call line for ${name}: ${shown.slice(0, 300)}`);
  return JSON.parse(line.slice(`[tool call] ${name}(`.length, -1));
}

test('a streamed tool call is shown with its arguments put back together', TEST_OPTS, async () => {
  const account = `dash-${newNonce().slice(6, 18)}`;
  const streams = [
    {
      path: 'grok/v1/chat/completions',
      headers: { authorization: 'Bearer test-key' },
      body: {
        model: MODEL,
        stream: true,
        messages: [{ role: 'user', content: 'weather?' }],
        tools: [{ type: 'function', function: WEATHER_TOOL }],
      },
    },
    {
      path: 'anthropic/v1/messages',
      headers: { 'x-api-key': 'test-key', 'anthropic-version': '2023-06-01' },
      body: {
        model: 'claude-haiku-4-5',
        max_tokens: 100,
        stream: true,
        messages: [{ role: 'user', content: 'weather?' }],
        tools: [{ name: WEATHER_TOOL.name, description: WEATHER_TOOL.description, input_schema: WEATHER_TOOL.parameters }],
      },
    },
  ];
  for (const s of streams) {
    const { shown } = await streamedDetail(account, s.path, s.headers, s.body);
    const args = shownCall(shown, WEATHER_TOOL.name);
    assert.equal(typeof args.city, 'string', JSON.stringify(args));
    assert.equal(typeof args.days, 'number', JSON.stringify(args));
    assert.ok(shown.includes('\n--- as streamed ---\n'), 'the stream as stored follows');
  }
});

test('a streamed answer is shown with the text it spelled out', TEST_OPTS, async () => {
  const account = `dash-${newNonce().slice(6, 18)}`;
  const { sse, shown } = await streamedDetail(
    account,
    'grok/v1/chat/completions',
    { authorization: 'Bearer test-key' },
    { model: MODEL, stream: true, messages: [{ role: 'user', content: 'hi' }] },
  );
  assert.match(sse, /^data: /m);
  assert.ok(shown.startsWith(`${ANSWER}\n\n--- as streamed ---\n`), shown.slice(0, 200));
  assert.ok(shown.includes('data: [DONE]'), 'the stream as stored follows');
});
