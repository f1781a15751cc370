// The reconcile console: reads the JSON API with the token kept in sessionStorage (never in a
// query string, never in a cookie) and builds the page with DOM calls only. Every ledger string
// goes through textContent, so ids holding markup or terminal escapes stay text.
'use strict';

(() => {
  const tokenKey = 'reconcile.token';
  const categories = ['A', 'B', 'C', 'D'];
  const svgNs = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);

  // #token=... in the fragment (never sent to the server) is taken once, then removed.
  function takeFragmentToken() {
    const match = /(?:^#|&)token=([^&]*)/.exec(window.location.hash);
    if (!match) return;
    sessionStorage.setItem(tokenKey, decodeURIComponent(match[1]));
    history.replaceState(null, '', window.location.pathname);
  }

  function token() { return sessionStorage.getItem(tokenKey); }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === 'class') node.className = value; else node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(svgNs, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    return node;
  }

  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  async function api(path, options) {
    const init = options || {};
    const headers = init.admin ? { 'X-Ledger-Admin-Token': token() } : { 'X-Ledger-Token': token() };
    if (init.body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, {
      method: init.method || 'GET', headers, credentials: 'omit', cache: 'no-store',
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    let document_ = null;
    try { document_ = await response.json(); } catch (e) { document_ = null; }
    if (!response.ok) throw new ApiError(response.status, (document_ && document_.detail) || response.statusText);
    return document_;
  }

  function age(iso) {
    if (!iso) return '';
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds >= 86400) return `${Math.floor(seconds / 86400)}d ${Math.floor((seconds % 86400) / 3600)}h`;
    if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
    if (seconds >= 60) return `${Math.floor(seconds / 60)}m`;
    return `${seconds}s`;
  }

  // 2026-12-02T06:25:38.729Z as 2026-12-02 06:25Z (the whole instant is the cell's title).
  function shortTime(iso) {
    return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z` : '';
  }

  function keysText(keys) {
    return Object.entries(keys || {}).map(([name, value]) => `${name}=${value}`).join(' ');
  }

  function setStatus(text) { $('status').textContent = text; }

  const rank = { ok: 0, warn: 1, error: 2, fail: 3 };
  const worse = (a, b) => (a === null || rank[b] > rank[a] ? b : a);

  // A category's status as /metrics has it (lib/metrics.cpp): the worst of each check's latest
  // result, so a partial (--check) run or one shard's ok never turns a failing category green.
  // A check's latest result is the newest finished run holding it; when that run was shard K of
  // N, the newest run of every shard of N since the check's last unsharded run, and that
  // unsharded run while some shard has not run since. `runs`: one category's, newest first.
  function categoryStatus(runs) {
    const checks = new Map();
    for (const run of runs) {
      if (!(run.status in rank)) continue;  // running, abandoned, interrupted: no results
      for (const check of run.checks || []) {
        const seen = checks.get(check.check_name);
        if (!seen) {
          checks.set(check.check_name, {
            status: check.status, count: run.shard ? run.shard.count : 0,
            shards: new Set(run.shard ? [run.shard.index] : []), done: !run.shard,
          });
        } else if (seen.done) {
          continue;
        } else if (!run.shard) {
          if (seen.shards.size < seen.count) seen.status = worse(seen.status, check.status);
          seen.done = true;
        } else if (run.shard.count === seen.count && !seen.shards.has(run.shard.index)) {
          seen.shards.add(run.shard.index);
          seen.status = worse(seen.status, check.status);
        }
      }
    }
    let status = null;
    for (const seen of checks.values()) status = worse(status, seen.status);
    return status;
  }

  // Why the newest run is not what the tile shows: it covered only some checks or customers.
  function newerRunNote(newest, full) {
    if (!newest || newest === full || !(newest.status in rank)) return null;
    if (newest.scope === 'partial') {
      return `a partial run is newer: run ${newest.run_id} (${newest.status}) ran only ${newest.checks_requested.join(', ')}`;
    }
    if (newest.shard) {
      return `a shard run is newer: run ${newest.run_id} (${newest.status}), shard ${newest.shard.index}/${newest.shard.count}`;
    }
    return null;
  }

  function renderTiles(runs) {
    const byCategory = new Map();
    const books = [];
    for (const run of runs) {
      if (!books.includes(run.book)) books.push(run.book);
      const key = `${run.book}/${run.category}`;
      if (!byCategory.has(key)) byCategory.set(key, []);
      byCategory.get(key).push(run);
    }
    const container = $('books');
    container.replaceChildren();
    for (const book of books) {
      const tiles = el('div', { class: 'tiles' });
      for (const category of categories) {
        const history = byCategory.get(`${book}/${category}`) || [];
        const status = categoryStatus(history);
        const finished = history.filter((run) => run.status in rank);
        const full = finished.find((run) => run.scope === 'full' && run.shard === null);
        const shown = full || finished[0];
        const note = newerRunNote(finished[0], full);
        tiles.append(el('div', { class: `tile status-${status || 'none'}`, 'data-book': book, 'data-category': category },
          el('div', { class: 'category' }, `Category ${category}`),
          el('div', { class: 'tile-status' }, status || 'no run'),
          el('div', { class: 'tile-meta' }, shown ? `${age(shown.started_at)} ago, ${shown.duration_ms} ms` : ''),
          shown ? el('div', { class: 'tile-meta' }, `run ${shown.run_id}`) : null,
          note ? el('div', { class: 'tile-note' }, note) : null));
      }
      container.append(el('section', { class: 'book', 'data-book': book }, el('h2', {}, `Book ${book}`), tiles));
    }
  }

  async function act(variance, action, form) {
    const message = $('ack-message');
    message.textContent = '';
    const body = { book: variance.book };
    if (action === 'ack') {
      body.class = form.querySelector('select').value;
      body.note = form.querySelector('input').value;
    }
    try {
      await api(`/v1/reconciliation/variances/${encodeURIComponent(variance.fingerprint)}/${action}`,
        { method: 'POST', admin: true, body });
      await load();
    } catch (e) {
      message.textContent = e.status === 401 ? 'Acknowledging needs the admin token.' : `Not done: ${e.message}`;
    }
  }

  function ackCell(variance) {
    const ack = variance.acknowledgement;
    if (ack) {
      const button = el('button', { type: 'button', class: 'unack' }, 'Unack');
      button.addEventListener('click', (event) => { event.stopPropagation(); act(variance, 'unack', null); });
      return [el('td', { class: 'ack' }, el('span', { class: 'ack-badge' }, ack.class), ` ${ack.note} (${ack.by})`),
        el('td', {}, button)];
    }
    const form = el('form', { class: 'ack-form' },
      el('select', { 'aria-label': 'class' }, el('option', { value: 'data' }, 'data'),
        el('option', { value: 'code' }, 'code'), el('option', { value: 'timing' }, 'timing')),
      el('input', { type: 'text', placeholder: 'note', 'aria-label': 'note', required: '' }),
      el('button', { type: 'submit' }, 'Ack'));
    form.addEventListener('click', (event) => event.stopPropagation());
    form.addEventListener('submit', (event) => { event.preventDefault(); act(variance, 'ack', form); });
    return [el('td', { class: 'ack' }, 'unacknowledged'), el('td', {}, form)];
  }

  function renderVariances(variances) {
    const body = $('variances').querySelector('tbody');
    body.replaceChildren();
    $('no-variances').hidden = variances.length !== 0;
    for (const variance of variances) {
      const row = el('tr', {
        class: `variance-row${variance.acknowledgement ? ' acknowledged' : ''}`,
        'data-fingerprint': variance.fingerprint, 'data-book': variance.book,
      },
      el('td', {}, variance.book), el('td', {}, variance.check_name), el('td', {}, variance.kind),
      el('td', { class: 'keys' }, keysText(variance.keys)),
      el('td', { class: 'num' }, variance.last.difference === null ? '' : variance.last.difference),
      el('td', { class: 'seen', title: variance.first_seen_at }, shortTime(variance.first_seen_at),
        el('br'), el('span', { class: 'age' }, `${age(variance.first_seen_at)} ago`)),
      el('td', { class: 'num' }, `${variance.occurrences}x`), ...ackCell(variance));
      row.addEventListener('click', () => {
        for (const other of body.querySelectorAll('tr.selected')) other.classList.remove('selected');
        row.classList.add('selected');
        showTrace(variance);
      });
      body.append(row);
    }
  }

  function linesTable(lines) {
    const table = el('table', { class: 'lines' }, el('thead', {}, el('tr', {}, el('th', {}, 'line'),
      el('th', {}, 'account'), el('th', {}, 'customer'), el('th', {}, 'side'), el('th', {}, 'amount'),
      el('th', {}, 'currency'))));
    const body = el('tbody');
    for (const line of lines || []) {
      body.append(el('tr', {}, el('td', {}, line.line_id), el('td', {}, line.account ?? ''),
        el('td', {}, line.customer_id ?? ''), el('td', {}, line.side ?? ''),
        el('td', { class: 'num' }, line.amount ?? ''), el('td', {}, line.currency ?? '')));
    }
    table.append(body);
    return table;
  }

  async function showTrace(variance) {
    const section = $('trace');
    const target = $('trace-body');
    section.hidden = false;
    $('trace-title').textContent = `${variance.book} ${variance.check_name} ${variance.kind} ${keysText(variance.keys)}`;
    target.replaceChildren(el('pre', { class: 'detail' }, JSON.stringify(
      { fingerprint: variance.fingerprint, keys: variance.keys, last: variance.last }, null, 2)));
    const txn = variance.keys && variance.keys.txn_id;
    if (!txn) {
      target.append(el('p', { class: 'note' }, 'No transaction id in its keys: the variance itself is shown.'));
      return;
    }
    try {
      const trace = await api(`/v1/reconciliation/trace?book=${encodeURIComponent(variance.book)}&txn=${encodeURIComponent(txn)}`);
      for (const transaction of trace.transactions) {
        target.append(el('h3', { class: 'trace-txn' },
          `txn ${transaction.txn_id} ${transaction.txn_type} ${transaction.status} (${transaction.source} ${transaction.source_txn_id})`),
        linesTable(transaction.lines));
      }
      if (trace.transactions.length === 0) target.append(el('p', { class: 'note' }, `No transaction ${txn} in the ledger.`));
    } catch (e) {
      target.append(el('p', { class: 'note' }, `Trace failed: ${e.message}`));
    }
  }

  function renderCharts(series) {
    const byCheck = new Map();
    for (const point of series) {
      const key = `${point.book} ${point.check_name}`;
      if (!byCheck.has(key)) byCheck.set(key, []);
      byCheck.get(key).push(point);
    }
    const container = $('charts');
    container.replaceChildren();
    const grid = el('div', { class: 'charts-grid' });
    const width = 300, height = 80, days = 30;
    const today = Date.parse(new Date().toISOString().slice(0, 10));
    for (const [key, points] of byCheck) {
      const chart = svg('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
      const maxCount = Math.max(1, ...points.map((p) => p.variances));
      const maxDrift = Math.max(0, ...points.map((p) => Math.abs(Number(p.drift))));
      const step = width / days;
      const x = (date) => (days - 1 - Math.round((today - Date.parse(date)) / 86400000)) * step;
      chart.append(svg('line', { class: 'axis', x1: 0, y1: height - 1, x2: width, y2: height - 1 }));
      const path = [];
      for (const point of points) {
        const left = x(point.date);
        if (left < 0) continue;
        const barHeight = (point.variances / maxCount) * (height - 10);
        const bar = svg('rect', { class: 'bar', x: left + 1, y: height - 1 - barHeight, width: Math.max(1, step - 2), height: barHeight });
        const title = svg('title');
        title.textContent = `${point.date}: ${point.variances} variance(s), drift ${point.drift}`;
        bar.append(title);
        chart.append(bar);
        if (maxDrift > 0) {
          const cx = left + step / 2;
          const cy = height - 1 - (Math.abs(Number(point.drift)) / maxDrift) * (height - 10);
          path.push(`${path.length ? 'L' : 'M'}${cx},${cy}`);
          // A dot per day, so a single day's drift shows too.
          chart.append(svg('circle', { class: 'drift-point', cx, cy, r: 2.5 }));
        }
      }
      if (path.length) chart.append(svg('path', { class: 'drift', d: path.join(' ') }));
      const last = points[points.length - 1];
      grid.append(el('figure', { class: 'chart-box', 'data-check': key }, chart,
        el('figcaption', {}, `${key}: ${last.variances} variance(s), drift ${last.drift} on ${last.date}`)));
    }
    container.append(grid);
  }

  async function load() {
    setStatus('loading...');
    try {
      const [runs, variances, daily] = await Promise.all([
        api('/v1/reconciliation/runs?limit=500'),
        api('/v1/reconciliation/variances?state=open&limit=500'),
        api('/v1/reconciliation/daily?days=30'),
      ]);
      $('login').hidden = true;
      $('main').hidden = false;
      $('refresh').hidden = false;
      $('signout').hidden = false;
      renderTiles(runs.runs);
      renderVariances(variances.variances);
      renderCharts(daily.series);
      setStatus(`updated ${new Date().toISOString()}`);
      document.body.dataset.loaded = String(Date.now());
    } catch (e) {
      if (e.status === 401) {
        sessionStorage.removeItem(tokenKey);
        showLogin('That token was refused.');
      } else {
        setStatus(`could not load: ${e.message}`);
      }
    }
  }

  function showLogin(message) {
    $('main').hidden = true;
    $('login').hidden = false;
    setStatus(message || '');
  }

  document.addEventListener('DOMContentLoaded', () => {
    takeFragmentToken();
    $('login').addEventListener('submit', (event) => {
      event.preventDefault();
      sessionStorage.setItem(tokenKey, $('token').value);
      $('token').value = '';
      load();
    });
    $('refresh').addEventListener('click', load);
    $('signout').addEventListener('click', () => { sessionStorage.removeItem(tokenKey); showLogin('Token forgotten.'); });
    if (token()) load(); else showLogin();
  });
})();
