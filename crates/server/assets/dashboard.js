// Switchyard dashboard: gateways, a filterable log with stored bodies, and charts over time.
// Everything comes from the control plane under /client/v4 (the browser sends the same
// credentials it opened this page with). No framework, no build step; every value from the
// server reaches the page as text (textContent), never as markup.
'use strict';

const API = '/client/v4';
const PER_PAGE = 25;
const SVG = 'http://www.w3.org/2000/svg';

// Time ranges of the overview: how far back, and the analytics bucket that suits it.
const RANGES = {
  '1h': { ms: 3600e3, bucket: 'minute', step: 60e3 },
  '24h': { ms: 86400e3, bucket: 'hour', step: 3600e3 },
  '7d': { ms: 7 * 86400e3, bucket: 'hour', step: 3600e3 },
  '30d': { ms: 30 * 86400e3, bucket: 'day', step: 86400e3 },
};

// Gateway settings the form edits (SPEC 3), in the order shown, one box per group. A hint
// is shown in small print under its label.
const SETTINGS = [
  { group: 'Logs', key: 'collect_logs', label: 'Collect logs', type: 'bool' },
  { group: 'Logs', key: 'log_management', label: 'Max stored logs', hint: 'empty = no cap', type: 'int', min: 0, nullable: true },
  { group: 'Logs', key: 'log_management_strategy', label: 'When full', type: 'choice', choices: ['STOP_INSERTING', 'DELETE_OLDEST'] },
  { group: 'Cache', key: 'cache_ttl', label: 'TTL (s)', hint: '0 = off', type: 'int', min: 0 },
  { group: 'Cache', key: 'cache_invalidate_on_update', label: 'Clear cache on settings change', type: 'bool' },
  { group: 'Rate limit', key: 'rate_limiting_limit', label: 'Requests', hint: 'per window, 0 = off', type: 'int', min: 0 },
  { group: 'Rate limit', key: 'rate_limiting_interval', label: 'Window (s)', type: 'int', min: 1, max: 86400 },
  { group: 'Rate limit', key: 'rate_limiting_technique', label: 'Technique', type: 'choice', choices: ['fixed', 'sliding'] },
  { group: 'Retries', key: 'retry_max_attempts', label: 'Attempts', hint: '1 to 5', type: 'int', min: 1, max: 5 },
  { group: 'Retries', key: 'retry_delay', label: 'Delay (ms)', hint: '0 to 60000', type: 'int', min: 0, max: 60000 },
  { group: 'Retries', key: 'retry_backoff', label: 'Backoff', type: 'choice', choices: ['constant', 'linear', 'exponential'] },
  { group: 'Access', key: 'authentication', label: 'Require cf-aig-authorization', type: 'bool' },
];

const VIEWS = ['overview', 'logs', 'gateways'];

const state = {
  account: '',
  gateway: '',
  gateways: [],
  view: 'overview',
  logsPage: 1,
  logsTotal: 0,
  // The filters and order last applied (the form may hold edits not applied yet): what the
  // list shows, its pages, and a delete use these, never the form as it stands.
  applied: null,
  selectedLog: null,
};

const $ = (sel) => document.querySelector(sel);

// Each loader draws only its latest answer: a slow response to an earlier choice (another
// gateway, another range) must not overwrite the current one.
const latest = { overview: 0, logs: 0, detail: 0, keys: 0 };
const ticket = (what) => ++latest[what];
const stale = (what, t) => latest[what] !== t;

// A table row that opens something: by click, or from the keyboard (Tab to it, Enter or Space).
function activate(tr, open) {
  tr.tabIndex = 0;
  tr.addEventListener('click', open);
  tr.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      open();
    }
  });
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// ------------------------------------------------------------------ talking to the API

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// The server's clock as this browser's clock plus an offset, from the Date of its answers
// (to the second): time ranges end at the server's "now", so a browser whose clock runs
// behind still sees the latest traffic.
let clockOffset = 0;
function noteServerClock(res) {
  const t = Date.parse(res.headers.get('date') || '');
  // Only a difference beyond the header's one-second resolution counts.
  if (Number.isFinite(t) && Math.abs(t - Date.now()) > 1500) clockOffset = t - Date.now();
  else if (Number.isFinite(t)) clockOffset = 0;
}
const serverNow = () => Date.now() + clockOffset;

async function api(path, options = {}) {
  const init = { credentials: 'same-origin', ...options, headers: { accept: 'application/json', ...(options.headers || {}) } };
  if (options.json !== undefined) {
    init.body = JSON.stringify(options.json);
    init.headers['content-type'] = 'application/json';
    delete init.json;
  }
  const res = await fetch(apiUrl(path), init);
  noteServerClock(res);
  let body = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON: reported below.
  }
  if (!body || body.success !== true) {
    const msg = body && body.errors && body.errors[0] ? body.errors[0].message : `HTTP ${res.status}`;
    throw new ApiError(msg, res.status);
  }
  return body;
}

// Absolute, from the origin alone: a page opened as http://user:pass@host/ may not fetch
// relative URLs (they would carry the credentials).
const apiUrl = (path) => new URL(API + path, window.location.origin).href;

const enc = encodeURIComponent;
const gwPath = () => `/accounts/${enc(state.account)}/ai-gateway/gateways/${enc(state.gateway)}`;

function showStatus(message, kind) {
  const box = $('#status');
  if (!message) {
    box.hidden = true;
    box.textContent = '';
    return;
  }
  box.hidden = false;
  box.className = kind === 'info' ? 'info' : '';
  box.textContent = message;
}

async function guarded(fn) {
  try {
    showStatus('');
    await fn();
  } catch (e) {
    showStatus(e instanceof ApiError ? e.message : `Something failed: ${e.message || e}`);
  }
}

// ------------------------------------------------------------------ formatting

const fmtInt = (n) => (n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));
function fmtCost(n) {
  if (n === null || n === undefined) return '—';
  if (n === 0) return '0';
  if (Math.abs(n) >= 0.01) return n.toFixed(4);
  // Three significant digits in plain decimals (never `5.00e-9`).
  return n.toFixed(Math.min(20, 2 - Math.floor(Math.log10(Math.abs(n)))));
}
const fmtPct = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '—');
const fmtMs = (n) => (n === null || n === undefined ? '—' : `${Math.round(n).toLocaleString('en-US')} ms`);
const fmtTime = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') : '—');

// A datetime-local value (read as UTC, like every time on the page) as RFC 3339; an end
// given to the minute includes that whole minute.
function localToIso(v, end) {
  if (!v) return '';
  return `${v.length === 16 ? `${v}:${end ? '59.999' : '00'}` : v}Z`;
}

// ------------------------------------------------------------------ accounts and gateways

// Every account, page by page (the list is paginated like any other).
async function loadAccounts() {
  const ids = [];
  for (let page = 1; ; page++) {
    const body = await api(`/accounts?per_page=50&page=${page}`);
    ids.push(...body.result.map((a) => a.id));
    const info = body.result_info || {};
    if (!body.result.length || ids.length >= (info.total_count || 0)) break;
  }
  $('#accounts').replaceChildren(...ids.map((id) => el('option', { value: id })));
  return ids;
}

async function loadGateways() {
  const select = $('#gateway');
  state.gateways = [];
  if (!state.account) {
    select.replaceChildren();
    return;
  }
  const all = [];
  for (let page = 1; ; page++) {
    let body;
    try {
      body = await api(`/accounts/${enc(state.account)}/ai-gateway/gateways?per_page=100&page=${page}`);
    } catch (e) {
      // An account the gateway has never seen: no gateways yet (one can be created).
      if (e instanceof ApiError && e.status === 404) break;
      throw e;
    }
    all.push(...body.result);
    const info = body.result_info || {};
    if (!body.result.length || all.length >= (info.total_count || 0)) break;
  }
  state.gateways = all;
  select.replaceChildren(...all.map((g) => el('option', { value: g.id, text: g.id, title: g.id })));
  const stored = localStorage.getItem(`switchyard.gateway.${state.account}`);
  const wanted = [state.gateway, stored].find((id) => id && all.some((g) => g.id === id));
  state.gateway = wanted || (all[0] ? all[0].id : '');
  showGatewayChoice();
}

// The header's gateway select shows the gateway chosen; a long id, cut short on screen, is
// whole in its tooltip.
function showGatewayChoice() {
  const select = $('#gateway');
  select.value = state.gateway;
  select.title = state.gateway;
}

async function chooseAccount(account, gateway = '') {
  state.account = account.trim();
  $('#account').value = state.account;
  if (state.account) localStorage.setItem('switchyard.account', state.account);
  state.gateway = gateway;
  state.logsPage = 1;
  closeDetail();
  ticket('overview');
  ticket('logs');
  clearOverview();
  $('#logs tbody').replaceChildren();
  $('#page-info').textContent = '';
  try {
    await loadGateways();
  } catch (e) {
    state.gateways = [];
    $('#gateway').replaceChildren();
    throw e;
  } finally {
    renderGatewayTable();
  }
  await showView(state.view);
}

async function chooseGateway(id) {
  state.gateway = id;
  showGatewayChoice();
  localStorage.setItem(`switchyard.gateway.${state.account}`, id);
  state.logsPage = 1;
  closeDetail();
  renderGatewayTable();
  // Nothing of the gateway before stays on screen, even if loading this one fails, and
  // answers still on their way for it are dropped.
  ticket('overview');
  ticket('logs');
  clearOverview();
  $('#logs tbody').replaceChildren();
  $('#page-info').textContent = '';
  await showView(state.view);
}

// ------------------------------------------------------------------ views

async function showView(view) {
  state.view = view;
  for (const b of document.querySelectorAll('nav button')) b.classList.toggle('active', b.dataset.view === view);
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== view;
  if (!state.gateway && view !== 'gateways') {
    showStatus(
      state.account
        ? `Account "${state.account}" has no gateways yet: create one under Gateways, or send a request through /v1/${state.account}/{gateway}/...`
        : 'No gateways yet: send a request through /v1/{account}/{gateway}/{provider}/... or enter an account above.',
      'info',
    );
    clearOverview('No gateway selected.');
    $('#logs tbody').replaceChildren(emptyRow(10, 'No gateway selected.'));
    $('#page-info').textContent = '';
    return;
  }
  if (view === 'overview') await loadOverview();
  else if (view === 'logs') await loadLogs();
  else renderGatewayTable();
}

// ------------------------------------------------------------------ overview: tiles and charts

// Empties the overview; `note`, when given, says why in the breakdown table.
function clearOverview(note) {
  $('#tiles').replaceChildren();
  $('#charts').replaceChildren();
  $('#breakdown tbody').replaceChildren(...(note ? [emptyRow(8, note)] : []));
}

// A table row that says there is nothing to list, across `columns` columns.
const emptyRow = (columns, text) => el('tr', {}, el('td', { colspan: columns, class: 'empty', text }));

// Bucket start times (ms) from `start` to `end`, aligned as the server aligns them (UTC).
function bucketTimes(startMs, endMs, step) {
  const first = Math.floor(startMs / step) * step;
  const out = [];
  for (let t = first; t <= endMs; t += step) out.push(t);
  return out;
}

async function loadOverview() {
  const t = ticket('overview');
  const range = RANGES[$('#range').value] || RANGES['24h'];
  const end = serverNow();
  const start = end - range.ms;
  const q = `start=${enc(new Date(start).toISOString())}&end=${enc(new Date(end).toISOString())}&bucket=${range.bucket}`;
  const [overall, grouped] = await Promise.all([
    api(`${gwPath()}/analytics?${q}`),
    api(`${gwPath()}/analytics?${q}&group_by=provider,model`),
  ]);
  if (stale('overview', t)) return;
  const times = bucketTimes(start, end, range.step);
  const index = new Map(times.map((t, i) => [t, i]));
  const zeros = () => times.map(() => 0);
  const s = {
    requests: zeros(), errors: zeros(), cache_hits: zeros(), tokens_in: zeros(),
    tokens_out: zeros(), cost: zeros(), p50: times.map(() => null), p95: times.map(() => null),
  };
  for (const row of overall.result) {
    const i = index.get(Date.parse(row.bucket));
    if (i === undefined) continue;
    s.requests[i] += row.requests;
    s.errors[i] += row.errors;
    s.cache_hits[i] += row.cache_hits;
    s.tokens_in[i] += row.tokens_in;
    s.tokens_out[i] += row.tokens_out;
    s.cost[i] += row.cost;
    s.p50[i] = row.latency_p50;
    s.p95[i] = row.latency_p95;
  }
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  const total = { requests: sum(s.requests), errors: sum(s.errors), hits: sum(s.cache_hits) };
  $('#tiles').replaceChildren(
    tile('Requests', fmtInt(total.requests)),
    tile('Errors', `${fmtInt(total.errors)} (${fmtPct(total.requests ? total.errors / total.requests : NaN)})`),
    tile('Cache hit rate', fmtPct(total.requests ? total.hits / total.requests : NaN)),
    tile('Tokens in', fmtInt(sum(s.tokens_in))),
    tile('Tokens out', fmtInt(sum(s.tokens_out))),
    tile('Cost (USD)', fmtCost(sum(s.cost))),
  );
  const rate = s.requests.map((n, i) => (n ? s.cache_hits[i] / n : null));
  // Without a single request in the range, every chart says so instead of drawing zeros.
  const none = total.requests === 0;
  $('#charts').replaceChildren(
    chart('Requests', times, [{ name: 'requests', values: s.requests, color: '#2563eb' }], fmtInt, { none }),
    chart('Errors', times, [{ name: 'errors', values: s.errors, color: '#c0392b' }], fmtInt, { none }),
    chart('Cache hit rate', times, [{ name: 'hits / requests', values: rate, color: '#1e8449' }], fmtPct, { none, max: 1 }),
    chart('Tokens', times, [
      { name: 'in', values: s.tokens_in, color: '#7c3aed' },
      { name: 'out', values: s.tokens_out, color: '#db2777' },
    ], fmtInt, { none }),
    chart('Cost (USD)', times, [{ name: 'cost', values: s.cost, color: '#b45309' }], fmtCost, { none }),
    chart('Latency', times, [
      { name: 'p50', values: s.p50, color: '#0891b2' },
      { name: 'p95', values: s.p95, color: '#64748b' },
    ], fmtMs, { none }),
  );
  renderBreakdown(grouped.result);
}

function tile(label, value) {
  return el('div', { class: 'tile' }, el('div', { class: 'label', text: label }), el('div', { class: 'value', text: value }));
}

function renderBreakdown(rows) {
  const by = new Map();
  for (const r of rows) {
    const key = `${r.provider ?? ''}\u0000${r.model ?? ''}`;
    const acc = by.get(key) || { provider: r.provider, model: r.model, requests: 0, errors: 0, cache_hits: 0, tokens_in: 0, tokens_out: 0, cost: 0 };
    for (const f of ['requests', 'errors', 'cache_hits', 'tokens_in', 'tokens_out', 'cost']) acc[f] += r[f];
    by.set(key, acc);
  }
  const sorted = [...by.values()].sort((a, b) => b.requests - a.requests);
  const body = $('#breakdown tbody');
  if (!sorted.length) {
    body.replaceChildren(emptyRow(8, 'No requests in this range.'));
    return;
  }
  body.replaceChildren(...sorted.map((r) => el('tr', {},
    el('td', { text: r.provider ?? '—' }),
    el('td', { text: r.model ?? '—', title: r.model ?? '' }),
    el('td', { class: 'num', text: fmtInt(r.requests) }),
    el('td', { class: 'num', text: fmtInt(r.errors) }),
    el('td', { class: 'num', text: fmtInt(r.cache_hits) }),
    el('td', { class: 'num', text: fmtInt(r.tokens_in) }),
    el('td', { class: 'num', text: fmtInt(r.tokens_out) }),
    el('td', { class: 'num', text: fmtCost(r.cost) }),
  )));
}

// A line chart of one or more series over `times`, drawn as SVG; gaps (null) break the line.
// Options: `max` pins the y axis (1 for rates); `none` says there is no data at all, which
// the chart then says instead of drawing a scale and lines for it.
function chart(title, times, series, fmt, { max: fixedMax, none } = {}) {
  const W = 360;
  const H = 150;
  const pad = { l: 6, r: 6, t: 16, b: 18 };
  const values = series.flatMap((s) => s.values.filter((v) => v !== null && Number.isFinite(v)));
  if (none || !values.length) {
    return el('div', { class: 'chart', 'data-chart': title },
      el('h3', { text: title }), el('div', { class: 'chart-empty', text: 'No data in this range' }));
  }
  // The label gives the real maximum (0 when every value is 0); the scale needs one above 0.
  const max = fixedMax || Math.max(0, ...values);
  const scale = max || 1;
  const n = times.length;
  const x = (i) => pad.l + (n <= 1 ? 0 : (i * (W - pad.l - pad.r)) / (n - 1));
  const y = (v) => H - pad.b - (v / scale) * (H - pad.t - pad.b);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', title);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  add('line', { x1: pad.l, x2: W - pad.r, y1: H - pad.b, y2: H - pad.b, stroke: '#dde1e6' });
  const label = (t) => new Date(t).toISOString().slice(5, 16).replace('T', ' ');
  if (n) {
    add('text', { x: pad.l, y: H - 4, 'font-size': 10, fill: '#5f6b7a' }, label(times[0]));
    add('text', { x: W - pad.r, y: H - 4, 'font-size': 10, fill: '#5f6b7a', 'text-anchor': 'end' }, label(times[n - 1]));
  }
  add('line', { x1: pad.l, x2: W - pad.r, y1: pad.t, y2: pad.t, stroke: '#eef0f3', 'stroke-dasharray': '3 3' });
  add('text', { x: pad.l, y: pad.t - 4, 'font-size': 10, fill: '#5f6b7a' }, `max ${fmt(max)}`);
  for (const s of series) {
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    if (d) add('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 1.5, 'vector-effect': 'non-scaling-stroke' });
    // Dots where they fit, and always for a point with no neighbour (a line needs two).
    const known = (i) => i >= 0 && i < n && s.values[i] !== null && Number.isFinite(s.values[i]);
    {
      s.values.forEach((v, i) => {
        if (!known(i)) return;
        if (n > 96 && (known(i - 1) || known(i + 1))) return;
        const dot = add('circle', { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2, fill: s.color });
        const tip = document.createElementNS(SVG, 'title');
        tip.textContent = `${label(times[i])} ${s.name}: ${fmt(v)}`;
        dot.append(tip);
      });
    }
  }
  const legend = el('div', { class: 'legend' }, ...series.map((s) => {
    const sw = el('span', { class: 'swatch' });
    sw.style.background = s.color;
    return el('span', {}, sw, s.name);
  }));
  return el('div', { class: 'chart', 'data-chart': title }, el('h3', { text: title }), svg, legend);
}

// ------------------------------------------------------------------ logs

// The filter form as the logs API's parameters (what a list and a delete share).
function logFilters() {
  const form = $('#log-filters');
  const p = new URLSearchParams();
  for (const name of ['search', 'provider', 'model', 'success', 'cached', 'min_cost', 'max_cost']) {
    const v = form.elements[name].value.trim();
    if (v) p.set(name, v);
  }
  for (const name of ['start_date', 'end_date']) {
    const v = localToIso(form.elements[name].value, name === 'end_date');
    if (v) p.set(name, v);
  }
  // Status and metadata go in the `filters` array (a record matches when every one holds).
  const filters = [];
  const status = form.elements.status_code.value.trim();
  if (status) filters.push({ key: 'status_code', operator: 'eq', value: [Number(status)] });
  for (const key of ['metadata.key', 'metadata.value']) {
    const v = form.elements[key.replace('.', '_')].value.trim();
    if (v) filters.push({ key, operator: 'eq', value: [v] });
  }
  if (filters.length) p.set('filters', JSON.stringify(filters));
  return p;
}

// Takes the form's filters and order as the applied ones.
function applyFilters() {
  const form = $('#log-filters');
  const order = {};
  for (const name of ['order_by', 'order_by_direction']) order[name] = form.elements[name].value;
  state.applied = { filters: logFilters(), order };
}

function logQuery() {
  if (!state.applied) applyFilters();
  const p = new URLSearchParams(state.applied.filters);
  p.set('page', String(state.logsPage));
  p.set('per_page', String(PER_PAGE));
  for (const [name, v] of Object.entries(state.applied.order)) p.set(name, v);
  return p.toString();
}

async function deleteLogs() {
  if (!state.applied) applyFilters();
  const filters = state.applied.filters;
  const shown = [...filters.entries()].map(([k, v]) => `${k} = ${v}`).join(', ');
  const what = shown ? `every log matching the applied filters (${shown})` : 'every log of this gateway';
  if (!window.confirm(`Delete ${what}?`)) return;
  const body = await api(`${gwPath()}/logs?${filters}`, { method: 'DELETE' });
  state.logsPage = 1;
  closeDetail();
  await loadLogs();
  const n = body.result.deleted;
  showStatus(`Deleted ${fmtInt(n)} ${n === 1 ? 'log' : 'logs'}.`, 'info');
}

async function loadLogs() {
  const t = ticket('logs');
  const body = await api(`${gwPath()}/logs?${logQuery()}`);
  if (stale('logs', t)) return;
  const info = body.result_info || { total_count: body.result.length };
  state.logsTotal = info.total_count;
  const tbody = $('#logs tbody');
  if (!body.result.length) {
    tbody.replaceChildren(emptyRow(10, 'No logs match.'));
  } else {
    // Columns marked col-opt give way while a log is open beside the list.
    tbody.replaceChildren(...body.result.map((r) => {
      const why = failedAfterStatus(r);
      const tr = el('tr', { 'data-id': r.id },
        el('td', { text: fmtTime(r.created_at) }),
        el('td', { class: r.success ? 'good' : 'bad', text: String(r.status_code), title: why && `Not successful: ${why}.` }),
        el('td', { text: r.provider }),
        el('td', { text: r.model ?? '—', title: r.model ?? '' }),
        el('td', { class: 'col-opt', text: r.path, title: r.path }),
        el('td', { class: 'num col-opt', text: fmtInt(r.tokens_in) }),
        el('td', { class: 'num col-opt', text: fmtInt(r.tokens_out) }),
        el('td', { class: 'num', text: fmtCost(r.cost) }),
        el('td', { class: 'num', text: fmtMs(r.duration) }),
        el('td', { text: r.cached ? 'HIT' : '' }),
      );
      if (r.id === state.selectedLog) tr.classList.add('selected');
      activate(tr, () => openLog(r.id));
      return tr;
    }));
  }
  const pages = Math.max(1, Math.ceil(state.logsTotal / PER_PAGE));
  $('#page-info').textContent = `page ${state.logsPage} of ${pages} (${fmtInt(state.logsTotal)} logs)`;
  $('#prev').disabled = state.logsPage <= 1;
  $('#next').disabled = state.logsPage >= pages;
}

// Why a record whose status says success is not successful (the answer failed after its
// status had been sent), or null when nothing needs saying.
function failedAfterStatus(r) {
  if (r.success || r.status_code >= 400) return null;
  if (r.cancelled) return `the client left before the answer ended, after status ${r.status_code} was sent`;
  return `the stream was cut, or the provider reported an error, after status ${r.status_code} was sent`;
}

// ------------------------------------------------------------------ log detail

// A stored body as the server holds it: its size in bytes and, when its bytes are UTF-8
// text, that text (null otherwise: such bytes would show as mojibake).
async function apiBody(path) {
  const res = await fetch(apiUrl(path), { credentials: 'same-origin' });
  if (!res.ok) throw new ApiError(`HTTP ${res.status}`, res.status);
  const bytes = new Uint8Array(await res.arrayBuffer());
  let text = null;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Not UTF-8.
  }
  // NUL is valid UTF-8 but no text format carries it.
  if (text !== null && text.includes('\u0000')) text = null;
  return { size: bytes.length, text };
}

// A body that could not be fetched, said so (a 404 means none was stored).
const unreadable = (e) => ({ error: e.status === 404 ? '(not stored)' : `(could not be read: ${e.message})` });

// Content types whose bodies are bytes rather than text, whatever those bytes happen to be.
function binaryType(type) {
  const t = (type || '').split(';')[0].trim().toLowerCase();
  if (/\+(json|xml)$/.test(t)) return false;
  return /^(image|audio|video|font)\//.test(t) ||
    ['application/octet-stream', 'application/pdf', 'application/zip', 'application/gzip', 'application/protobuf', 'application/x-protobuf'].includes(t);
}

// A file name for a downloaded body: the log id, the side, an extension from the type.
function bodyFileName(id, side, type) {
  const t = (type || '').split(';')[0].trim().toLowerCase();
  const sub = t.split('/')[1] || '';
  let ext = 'bin';
  if (t === 'application/json' || sub.endsWith('+json')) ext = 'json';
  else if (t.startsWith('text/')) ext = 'txt';
  else if (t === 'audio/mpeg') ext = 'mp3';
  else if (/^(image|audio|video)\/[a-z0-9]+$/.test(t)) ext = sub;
  return `${id}-${side}.${ext}`;
}

// What a streamed answer spelled out, from its SSE events: its text (OpenAI chat deltas, the
// Responses API's text deltas, Anthropic's text deltas, Gemini's parts), then one line per
// tool call with its arguments put back together (OpenAI chat `tool_calls` deltas, the
// Responses API's function-call argument deltas, Anthropic's `input_json_delta` pieces,
// Gemini's `functionCall` parts). Null when the body is not such a stream.
function assembled(text) {
  if (typeof text !== 'string' || !/^(event|data):/m.test(text)) return null;
  let out = '';
  let events = 0;
  const calls = new Map();
  const call = (key) => {
    if (!calls.has(key)) calls.set(key, { name: '', args: '' });
    return calls.get(key);
  };
  for (const line of text.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const data = line.slice(5).trim();
    if (!data || data === '[DONE]') continue;
    let e;
    try {
      e = JSON.parse(data);
    } catch {
      continue;
    }
    events += 1;
    const piece =
      e?.choices?.[0]?.delta?.content ??
      (e?.type === 'response.output_text.delta' ? e.delta : undefined) ??
      (e?.type === 'content_block_delta' ? e.delta?.text : undefined) ??
      e?.candidates?.[0]?.content?.parts?.map((p) => p.text ?? '').join('');
    if (typeof piece === 'string') out += piece;
    for (const d of e?.choices?.[0]?.delta?.tool_calls ?? []) {
      const c = call(`chat:${d.index ?? 0}`);
      // The name comes with a call's first delta; later ones carry argument pieces.
      if (typeof d.function?.name === 'string' && !c.name) c.name = d.function.name;
      if (typeof d.function?.arguments === 'string') c.args += d.function.arguments;
    }
    if (e?.type === 'content_block_start' && e.content_block?.type === 'tool_use') {
      call(`messages:${e.index}`).name = e.content_block.name ?? '';
    }
    if (e?.type === 'content_block_delta' && e.delta?.type === 'input_json_delta') {
      call(`messages:${e.index}`).args += e.delta.partial_json ?? '';
    }
    if (e?.type === 'response.output_item.added' && e.item?.type === 'function_call') {
      call(`responses:${e.output_index}`).name = e.item.name ?? '';
    }
    if (e?.type === 'response.function_call_arguments.delta') {
      call(`responses:${e.output_index}`).args += e.delta ?? '';
    }
    for (const p of e?.candidates?.[0]?.content?.parts ?? []) {
      if (!p?.functionCall) continue;
      const c = call(`gemini:${calls.size}`);
      c.name = p.functionCall.name ?? '';
      c.args = JSON.stringify(p.functionCall.args ?? {});
    }
  }
  if (!events) return null;
  const tools = [...calls.values()].map((c) => `[tool call] ${c.name}(${c.args})`);
  return [out, ...tools].filter(Boolean).join('\n');
}

// Characters of a stored body put on the page: more would freeze the tab (bodies are stored
// up to 10 MB); the rest is a link away.
const SHOWN_MAX = 256 * 1024;

// A stored text body for reading: JSON indented, a stream with the text it spelled out
// first, anything else as stored (a long one is cut before this).
function pretty(text) {
  if (!text) return '(empty)';
  const spelled = assembled(text);
  if (spelled !== null) return `${spelled}\n\n--- as streamed ---\n${text}`;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

// Shows one stored body (`side` is request or response): text as text; bytes that are not
// text as their size and type with a link to download them; a long text cut, with a link to
// all of it.
function showBody(side, body, r, url) {
  const pre = $(`#detail-${side}`);
  const note = $(`#detail-${side}-note`);
  const type = r[`${side}_content_type`] || '';
  const download = (label) => el('a', { href: url, download: bodyFileName(r.id, side, type), text: label });
  pre.hidden = false;
  note.hidden = true;
  note.replaceChildren();
  if (body.error) {
    pre.textContent = body.error;
  } else if (body.size && (body.text === null || binaryType(type))) {
    pre.hidden = true;
    note.hidden = false;
    note.append(`binary, ${fmtInt(body.size)} bytes, ${type.split(';')[0] || 'no content type'}. `, download('Download'));
  } else if (body.text.length > SHOWN_MAX) {
    pre.textContent = body.text.slice(0, SHOWN_MAX);
    note.hidden = false;
    note.append(`Cut: the first ${fmtInt(SHOWN_MAX)} of ${fmtInt(body.text.length)} characters are shown. `, download('Download all of it'));
  } else {
    pre.textContent = pretty(body.text);
  }
}

async function openDetail(id) {
  const t = ticket('detail');
  state.selectedLog = id;
  for (const tr of document.querySelectorAll('#logs tbody tr')) tr.classList.toggle('selected', tr.dataset.id === id);
  const base = `${gwPath()}/logs/${enc(id)}`;
  let record, request, response;
  try {
    [record, request, response] = await Promise.all([
      api(base),
      apiBody(`${base}/request`).catch(unreadable),
      apiBody(`${base}/response`).catch(unreadable),
    ]);
  } catch (e) {
    // A log that cannot be read (deleted, or from a link gone stale) leaves nothing open.
    if (!stale('detail', t)) closeDetail();
    throw e;
  }
  if (stale('detail', t)) return;
  const r = record.result;
  const pane = $('#log-detail');
  const title = $('#detail-title');
  title.textContent = r.id;
  title.title = r.id;
  const why = failedAfterStatus(r);
  const rows = [
    ['id', r.id], ['created_at', r.created_at], ['status_code', r.status_code],
    ['success', why ? `false (${why})` : r.success],
    ['provider', r.provider], ['model', r.model], ['path', r.path], ['request_type', r.request_type],
    ['cached', r.cached], ['duration', fmtMs(r.duration)], ['ttft', fmtMs(r.ttft)],
    ['tokens_in', r.tokens_in], ['tokens_out', r.tokens_out], ['cached_tokens_in', r.cached_tokens_in],
    ['reasoning_tokens', r.reasoning_tokens], ['cost', fmtCost(r.cost)], ['custom_cost', r.custom_cost],
    ['event_id', r.event_id], ['metadata', r.metadata], ['feedback', r.feedback], ['score', r.score],
    ['step', r.step], ['request_content_type', r.request_content_type],
    ['response_content_type', r.response_content_type], ['request_size', r.request_size],
    ['response_size', r.response_size], ['user_agent', r.user_agent], ['cancelled', r.cancelled],
  ];
  $('#detail-fields tbody').replaceChildren(...rows.map(([k, v]) => el('tr', {},
    el('td', { text: k }),
    el('td', { text: v === null || v === undefined ? '—' : String(v) }))));
  for (const side of ['request', 'response']) {
    const headers = r[`${side}_headers`];
    const pre = $(`#detail-${side}-headers`);
    pre.hidden = !headers;
    pre.textContent = headers ? Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\n') : '';
  }
  showBody('request', request, r, apiUrl(`${base}/request`));
  showBody('response', response, r, apiUrl(`${base}/response`));
  // Pressed (filled, with a check mark), not only coloured.
  $('#feedback-up').setAttribute('aria-pressed', String(r.feedback === 1));
  $('#feedback-down').setAttribute('aria-pressed', String(r.feedback === -1));
  const opening = pane.hidden || pane.dataset.id !== r.id;
  pane.dataset.id = r.id;
  pane.hidden = false;
  $('.split').classList.add('detail-open');
  if (opening) {
    pane.scrollTop = 0;
    revealDetail();
  }
}

// Brings the open log's head (its id and buttons) into view: the pane sits beside the list
// and follows the scroll, or, in a narrow window, under the list.
function revealDetail() {
  const pane = $('#log-detail');
  const top = pane.getBoundingClientRect().top;
  if (top < 0 || top > window.innerHeight - 120) pane.scrollIntoView({ block: 'start' });
}

function closeDetail() {
  ticket('detail');
  state.selectedLog = null;
  const pane = $('#log-detail');
  pane.hidden = true;
  delete pane.dataset.id;
  $('.split').classList.remove('detail-open');
  for (const tr of document.querySelectorAll('#logs tbody tr.selected')) tr.classList.remove('selected');
}

async function sendFeedback(value) {
  if (!state.selectedLog) return;
  const id = state.selectedLog;
  const pressed = $(value === 1 ? '#feedback-up' : '#feedback-down').getAttribute('aria-pressed') === 'true';
  await api(`${gwPath()}/logs/${enc(id)}`, { method: 'PATCH', json: { feedback: pressed ? null : value } });
  await openDetail(id);
}

// ------------------------------------------------------------------ gateways and settings

function renderGatewayTable() {
  const tbody = $('#gateways tbody');
  if (!state.gateways.length) {
    tbody.replaceChildren(emptyRow(7, state.account ? 'No gateways in this account.' : 'Enter an account above.'));
  } else {
    tbody.replaceChildren(...state.gateways.map((g) => {
      const tr = el('tr', { 'data-id': g.id, class: g.id === state.gateway ? 'selected' : undefined },
        el('td', { text: g.id, title: g.id }),
        el('td', { text: g.collect_logs ? 'on' : 'off' }),
        el('td', { text: g.cache_ttl ? `${g.cache_ttl} s` : 'off' }),
        el('td', { text: g.rate_limiting_limit ? `${g.rate_limiting_limit} / ${g.rate_limiting_interval} s (${g.rate_limiting_technique})` : 'off' }),
        el('td', { text: g.authentication ? 'required' : 'off' }),
        el('td', { text: `${g.retry_max_attempts} × ${g.retry_delay} ms, ${g.retry_backoff}` }),
        el('td', { text: fmtTime(g.modified_at) }),
      );
      activate(tr, () => go(() => chooseGateway(g.id)));
      return tr;
    }));
  }
  renderSettings();
}

// The gateway whose key form is on screen: what was typed for one gateway is not offered
// to store under another.
let keyFormFor = '';

function renderSettings() {
  const form = $('#settings');
  const g = state.gateways.find((x) => x.id === state.gateway);
  const owner = g ? `${state.account}/${g.id}` : '';
  if (owner !== keyFormFor) {
    $('#new-key').reset();
    keyFormFor = owner;
  }
  if (!g) {
    form.hidden = true;
    $('#keys-panel').hidden = true;
    return;
  }
  if (state.view === 'gateways') guarded(loadKeys);
  form.hidden = false;
  $('#settings-title').textContent = `Settings of ${g.id}`;
  const groups = new Map();
  for (const f of SETTINGS) {
    if (!groups.has(f.group)) groups.set(f.group, el('fieldset', {}, el('legend', { text: f.group })));
    groups.get(f.group).append(settingField(f, g[f.key]));
  }
  $('#settings-fields').replaceChildren(...groups.values());
}

// One setting's label and control: a checkbox before its label; a number or a choice after
// it, all of one width.
function settingField(f, value) {
  if (f.type === 'bool') {
    const box = el('input', { type: 'checkbox', name: f.key });
    box.checked = Boolean(value);
    return el('label', { class: 'check' }, box, el('span', { text: f.label }));
  }
  let input;
  if (f.type === 'choice') {
    input = el('select', { name: f.key }, ...f.choices.map((c) => el('option', { value: c, text: c })));
    input.value = value;
  } else {
    input = el('input', { type: 'number', name: f.key, min: f.min, max: f.max, step: 1, required: !f.nullable });
    input.value = value === null || value === undefined ? '' : String(value);
  }
  const name = el('span', { text: f.label }, ...(f.hint ? [el('small', { text: f.hint })] : []));
  return el('label', {}, name, input);
}

// ------------------------------------------------------------------ stored provider keys

async function loadKeys() {
  const t = ticket('keys');
  const body = await api(`${gwPath()}/provider_configs?per_page=100`);
  if (stale('keys', t)) return;
  const tbody = $('#keys tbody');
  if (!body.result.length) {
    tbody.replaceChildren(emptyRow(6, 'No stored keys.'));
  } else {
    tbody.replaceChildren(...body.result.map((k) => {
      const remove = el('button', { type: 'button', class: 'danger', text: 'Delete' });
      remove.addEventListener('click', () => guarded(async () => {
        if (!window.confirm(`Delete the ${k.provider_slug} key "${k.alias}"?`)) return;
        await api(`${gwPath()}/provider_configs/${enc(k.id)}`, { method: 'DELETE' });
        await loadKeys();
      }));
      return el('tr', { 'data-id': k.id },
        el('td', { text: k.provider_slug }),
        el('td', { text: k.alias }),
        el('td', { text: k.secret_preview }),
        el('td', { text: k.default_config ? 'yes' : '' }),
        el('td', { text: fmtTime(k.created_at) }),
        el('td', {}, remove),
      );
    }));
  }
  $('#keys-panel').hidden = false;
}

async function storeKey() {
  const form = $('#new-key');
  const json = {
    provider_slug: form.elements.provider_slug.value.trim(),
    alias: form.elements.alias.value.trim(),
    secret: form.elements.secret.value,
  };
  await api(`${gwPath()}/provider_configs`, { method: 'POST', json });
  form.elements.secret.value = '';
  await loadKeys();
  showStatus(`Stored the ${json.provider_slug} key "${json.alias}".`, 'info');
}

function settingsFromForm() {
  const form = $('#settings');
  const out = {};
  for (const f of SETTINGS) {
    const input = form.elements[f.key];
    if (f.type === 'bool') out[f.key] = input.checked;
    else if (f.type === 'choice') out[f.key] = input.value;
    else out[f.key] = input.value.trim() === '' ? null : Number(input.value);
  }
  return out;
}

async function saveSettings() {
  const body = await api(gwPath(), { method: 'PUT', json: settingsFromForm() });
  const i = state.gateways.findIndex((g) => g.id === body.result.id);
  if (i >= 0) state.gateways[i] = body.result;
  renderGatewayTable();
  showStatus(`Saved the settings of ${body.result.id}.`, 'info');
}

async function createGateway(id) {
  const body = await api(`/accounts/${enc(state.account)}/ai-gateway/gateways`, { method: 'POST', json: { id } });
  await loadAccounts();
  state.gateway = body.result.id;
  await loadGateways();
  await chooseGateway(body.result.id);
  showStatus(`Created gateway ${body.result.id}.`, 'info');
}

async function deleteGateway() {
  const id = state.gateway;
  if (!id || !window.confirm(`Delete gateway "${id}" with its logs and stored keys?`)) return;
  await api(gwPath(), { method: 'DELETE' });
  state.gateway = '';
  state.logsPage = 1;
  closeDetail();
  await loadAccounts();
  await loadGateways();
  renderGatewayTable();
  showStatus(`Deleted gateway ${id}.`, 'info');
}

// ------------------------------------------------------------------ the address bar

// The URL names what is on screen, ?account=A&gateway=G&view=overview|logs|gateways&log=ID,
// so that Reload keeps the place and a log can be linked. A move the user makes adds a
// history entry (Back returns from it); what the page settles by itself replaces the entry.
function placeUrl() {
  const p = new URLSearchParams();
  if (state.account) p.set('account', state.account);
  if (state.gateway) p.set('gateway', state.gateway);
  p.set('view', state.view);
  if (state.selectedLog && state.view === 'logs') p.set('log', state.selectedLog);
  return `${window.location.pathname}?${p}`;
}

// Puts the place on screen in the address bar: `how` is 'push' (a new history entry, with
// `mark` as its state) or 'replace'.
function recordPlace(how, mark = null) {
  const url = placeUrl();
  if (url === `${window.location.pathname}${window.location.search}`) return;
  if (how === 'push') window.history.pushState(mark, '', url);
  else window.history.replaceState(window.history.state, '', url);
}

// A move the user makes: runs it, then records where it led (also when it failed half-way).
function go(fn, how = 'push', mark = null) {
  return guarded(async () => {
    try {
      await fn();
    } finally {
      recordPlace(how, mark);
    }
  });
}

// Opening a log takes a history entry, marked so that closing the log gives it back (Back
// then leaves the list as it was); opening another log in its place takes none.
function openLog(id) {
  return go(() => openDetail(id), state.selectedLog ? 'replace' : 'push', { openedLog: true });
}

function closeLog() {
  const id = state.selectedLog;
  if (!id) return;
  closeDetail();
  if (window.history.state && window.history.state.openedLog) window.history.back();
  else recordPlace('replace');
  // The keyboard carries on from the row that was open.
  const row = [...document.querySelectorAll('#logs tbody tr')].find((tr) => tr.dataset.id === id);
  if (row) row.focus();
}

// Back and Forward: shows what the URL names, changing only what differs.
async function followUrl() {
  const p = new URLSearchParams(window.location.search);
  const log = p.get('log');
  const view = log ? 'logs' : (VIEWS.includes(p.get('view')) ? p.get('view') : 'overview');
  const account = (p.get('account') || '').trim();
  const gateway = p.get('gateway') || '';
  const viewChanged = view !== state.view;
  state.view = view;
  if (account && account !== state.account) {
    await chooseAccount(account, gateway);
  } else if (gateway && gateway !== state.gateway && state.gateways.some((g) => g.id === gateway)) {
    await chooseGateway(gateway);
  } else if (viewChanged) {
    await showView(view);
  }
  if (log && log !== state.selectedLog && state.gateway) await openDetail(log);
  else if (!log && state.selectedLog) closeDetail();
}

// ------------------------------------------------------------------ wiring

async function start() {
  for (const b of document.querySelectorAll('nav button')) {
    b.addEventListener('click', () => go(() => showView(b.dataset.view)));
  }
  $('#account').addEventListener('change', (e) => go(() => chooseAccount(e.target.value)));
  $('#gateway').addEventListener('change', (e) => go(() => chooseGateway(e.target.value)));
  $('#range').addEventListener('change', () => guarded(loadOverview));
  $('#refresh').addEventListener('click', () => guarded(loadOverview));
  $('#log-filters').addEventListener('submit', (e) => {
    e.preventDefault();
    state.logsPage = 1;
    applyFilters();
    guarded(loadLogs);
  });
  $('#delete-logs').addEventListener('click', () => guarded(deleteLogs));
  $('#prev').addEventListener('click', () => {
    state.logsPage = Math.max(1, state.logsPage - 1);
    guarded(loadLogs);
  });
  $('#next').addEventListener('click', () => {
    state.logsPage += 1;
    guarded(loadLogs);
  });
  $('#detail-close').addEventListener('click', closeLog);
  document.addEventListener('keydown', (e) => {
    // Escape in a form field is the field's own (a search box clears itself).
    if (e.key !== 'Escape' || !state.selectedLog || state.view !== 'logs') return;
    if (e.target instanceof Element && e.target.closest('input, select, textarea')) return;
    closeLog();
  });
  $('#feedback-up').addEventListener('click', () => guarded(() => sendFeedback(1)));
  $('#feedback-down').addEventListener('click', () => guarded(() => sendFeedback(-1)));
  $('#settings').addEventListener('submit', (e) => {
    e.preventDefault();
    guarded(saveSettings);
  });
  $('#delete-gateway').addEventListener('click', () => go(deleteGateway, 'replace'));
  $('#new-key').addEventListener('submit', (e) => {
    e.preventDefault();
    guarded(storeKey);
  });
  $('#new-gateway').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('#new-gateway-id');
    go(async () => {
      if (!state.account) throw new ApiError('Enter an account first.');
      await createGateway(input.value.trim());
      input.value = '';
    });
  });
  // A submit the browser refuses (a field out of range, a bad id) sends nothing: the status
  // line must not keep the outcome of the submit before as if it were this one's.
  for (const form of document.querySelectorAll('form')) form.addEventListener('invalid', () => showStatus(''), true);
  window.addEventListener('popstate', () => guarded(async () => {
    try {
      await followUrl();
    } finally {
      recordPlace('replace');
    }
  }));

  // The URL names what to open (see placeUrl); what it leaves out comes from the last visit.
  const params = new URLSearchParams(window.location.search);
  if (VIEWS.includes(params.get('view'))) state.view = params.get('view');
  if (params.get('log')) state.view = 'logs';
  await go(async () => {
    const accounts = await loadAccounts();
    const fromUrl = params.get('account');
    const stored = localStorage.getItem('switchyard.account');
    const account = [fromUrl, stored].find((a) => a && (accounts.includes(a) || a === fromUrl)) || accounts[0] || '';
    state.gateway = params.get('gateway') || '';
    await chooseAccount(account, state.gateway);
    if (params.get('log') && state.gateway) await openDetail(params.get('log'));
  }, 'replace');
  document.body.dataset.ready = 'true';
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
