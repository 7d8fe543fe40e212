// Strata web UI: a hash-routed single-page application without dependencies.
//
// Data flow: one EventSource on /api/v1/events carries every change; pages
// never poll whole-state endpoints. A page fetches only what it shows (a page
// of tasks, agents, frameworks, offers or roles, or the fixed-size overview)
// and re-fetches it when an event that concerns it arrives, through a throttle whose interval grows with the
// master's response time, and not at all while the browser tab is hidden.
// Sandbox logs are the exception that polls: a tail reads a file's size and
// then only the new bytes, through the master's proxy to the agent.
'use strict';

(function () {
  // === utilities ===================================================================

  const SVG_NS = 'http://www.w3.org/2000/svg';

  function append(el, kids) {
    for (const k of kids) {
      if (k == null || k === false) continue;
      if (Array.isArray(k)) append(el, k);
      else el.append(k instanceof Node ? k : String(k));
    }
  }

  // h('a', {href, class, text, onclick, ...}, ...children): an element.
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v == null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k === 'style') Object.assign(el.style, v);
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    append(el, kids);
    return el;
  }

  // s('rect', {x, y, ...}): an SVG element.
  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v != null) el.setAttribute(k, String(v));
    }
    append(el, kids);
    return el;
  }

  // Replaces the children of `box`, keeping keyboard focus on the element with
  // the same data-key when the focus was inside.
  function swap(box, ...kids) {
    const active = document.activeElement;
    const key = active && box.contains(active) ? active.dataset.key : null;
    box.replaceChildren();
    append(box, kids);
    if (key) {
      const again = box.querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (again) again.focus();
    }
  }

  const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  const nf0 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

  function num(v) {
    return typeof v === 'number' && isFinite(v) ? v : 0;
  }

  function fmtNum(v) {
    return nf.format(num(v));
  }

  function fmtInt(v) {
    return nf0.format(num(v));
  }

  // Megabytes as a human size.
  function fmtMB(mb) {
    mb = num(mb);
    if (mb >= 1024 * 1024) return `${nf.format(mb / 1024 / 1024)} TB`;
    if (mb >= 1024) return `${nf.format(mb / 1024)} GB`;
    return `${nf.format(mb)} MB`;
  }

  function fmtBytes(b) {
    b = num(b);
    if (b >= 1 << 30) return `${nf.format(b / (1 << 30))} GiB`;
    if (b >= 1 << 20) return `${nf.format(b / (1 << 20))} MiB`;
    if (b >= 1 << 10) return `${nf.format(b / (1 << 10))} KiB`;
    return `${fmtInt(b)} B`;
  }

  function fmtScalar(name, v) {
    if (name === 'mem' || name === 'disk') return fmtMB(v);
    if (name === 'ports') return `${fmtInt(v)} ports`;
    return fmtNum(v);
  }

  function fmtDuration(secs) {
    secs = Math.max(0, Math.round(num(secs)));
    if (secs < 60) return `${secs}s`;
    const m = Math.floor(secs / 60);
    if (m < 60) return `${m}m ${secs % 60}s`;
    const hr = Math.floor(m / 60);
    if (hr < 48) return `${hr}h ${m % 60}m`;
    return `${Math.floor(hr / 24)}d ${hr % 24}h`;
  }

  function fmtClock(ms) {
    return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
  }

  function fmtUnix(secs) {
    if (!secs) return '—';
    return new Date(secs * 1000).toLocaleString(undefined, { hour12: false });
  }

  function timeEl(unixSecs) {
    if (!unixSecs) return '—';
    const d = new Date(unixSecs * 1000);
    return h('time', { datetime: d.toISOString(), title: d.toString() }, fmtUnix(unixSecs));
  }

  function agoEl(unixSecs) {
    if (!unixSecs) return '—';
    const d = new Date(unixSecs * 1000);
    return h('time', { datetime: d.toISOString(), title: d.toLocaleString(undefined, { hour12: false }) },
      `${fmtDuration(Date.now() / 1000 - unixSecs)} ago`);
  }

  // Long ids shortened for tables; the full id stays in the title.
  function shortId(id) {
    id = String(id || '');
    return id.length > 22 ? `${id.slice(0, 8)}…${id.slice(-8)}` : id;
  }

  function idEl(id) {
    return h('span', { class: 'mono', title: id }, shortId(id));
  }

  function enc(v) {
    return encodeURIComponent(v);
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== '' && v != null) q.set(k, v);
    }
    const str = q.toString();
    return str ? `?${str}` : '';
  }

  // Resources as "cpus 2 · mem 4 GB · ports [31000-31010]".
  function fmtResources(r) {
    if (!r) return '—';
    const parts = [];
    for (const k of ['cpus', 'mem', 'disk', 'gpus']) {
      if (num(r[k]) > 0) parts.push(`${k} ${fmtScalar(k, r[k])}`);
    }
    for (const [k, v] of Object.entries(r)) {
      if (['cpus', 'mem', 'disk', 'gpus'].includes(k)) continue;
      if (typeof v === 'number' && v > 0) parts.push(`${k} ${fmtNum(v)}`);
      else if (typeof v === 'string' && v !== '[]') parts.push(`${k} ${v}`);
    }
    return parts.length ? parts.join(' · ') : 'none';
  }

  // "[31000-31005,32000-32000]" -> 7
  function rangeCount(v) {
    if (typeof v !== 'string') return 0;
    let n = 0;
    for (const m of v.matchAll(/(\d+)-(\d+)/g)) n += Number(m[2]) - Number(m[1]) + 1;
    return n;
  }

  const TASK_STATES = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING',
    'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED',
    'TASK_UNREACHABLE', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN'];
  const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR',
    'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);

  function stateBadge(state) {
    const cls = {
      TASK_RUNNING: 'ok', TASK_FINISHED: 'ok', TASK_STAGING: 'info', TASK_STARTING: 'info',
      TASK_KILLING: 'warn', TASK_KILLED: 'muted', TASK_UNREACHABLE: 'warn', TASK_UNKNOWN: 'warn',
    }[state] || (TERMINAL.has(state) ? 'bad' : 'muted');
    return h('span', { class: `badge ${cls}` }, String(state || '').replace(/^TASK_/, ''));
  }

  // === the API ===================================================================

  // Response times by endpoint (first path segment after /api/v1/ui), for the
  // adaptive throttles and for tests.
  const metrics = { fetches: 0, events: 0, lastEventAt: 0 };

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, signal) {
    metrics.fetches += 1;
    let r;
    try {
      r = await fetch(path, { signal, headers: { Accept: 'application/json' } });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new HttpError(0, `the master did not answer (${e.message})`);
    }
    if (!r.ok) {
      const text = (await r.text()).trim();
      throw new HttpError(r.status, `${r.status} ${r.statusText}${text ? `: ${text}` : ''}`);
    }
    return r.json();
  }

  function errorEl(e) {
    return h('p', { class: 'error', role: 'alert' }, String(e && e.message ? e.message : e));
  }

  // Runs `fn` (async) at most once per interval; the interval is at least
  // `baseMs` and at least ten times what the last run took, so that a master
  // under load is asked less often. Calls while the tab is hidden are kept
  // and run when it is shown again.
  const refreshers = new Set();
  function makeRefresher(fn, baseMs) {
    let running = false;
    let pending = false;
    let timer = null;
    let last = -Infinity;
    let cost = 0;
    let stopped = false;
    const self = {
      schedule() {
        if (stopped) return;
        pending = true;
        if (running || timer || document.hidden) return;
        const gap = Math.max(baseMs, cost * 10);
        timer = setTimeout(run, Math.max(0, last + gap - performance.now()));
      },
      stop() {
        stopped = true;
        clearTimeout(timer);
        refreshers.delete(self);
      },
      resume() {
        if (pending) self.schedule();
      },
    };
    async function run() {
      timer = null;
      if (stopped) return;
      if (document.hidden) return;
      running = true;
      pending = false;
      last = performance.now();
      try {
        await fn();
      } catch (e) {
        if (e.name !== 'AbortError') console.warn('refresh failed', e);
      } finally {
        cost = performance.now() - last;
        running = false;
      }
      if (pending) self.schedule();
    }
    refreshers.add(self);
    return self;
  }

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) for (const r of refreshers) r.resume();
  });

  // === live state from the event stream ============================================

  const OFFER_KINDS = ['OFFER_MADE', 'OFFER_ACCEPTED', 'OFFER_DECLINED', 'OFFER_RESCINDED'];
  const EVENT_TYPES = ['TASK_ADDED', 'TASK_UPDATED', 'AGENT_ADDED', 'AGENT_UPDATED', 'AGENT_REMOVED',
    'FRAMEWORK_ADDED', 'FRAMEWORK_UPDATED', 'FRAMEWORK_REMOVED', ...OFFER_KINDS, 'HEARTBEAT'];
  const TIMELINE_MAX = 1000;
  const CHART_WINDOW_MS = 10 * 60 * 1000;

  const live = {
    overview: null,
    // Offers seen on the stream and not yet answered: id -> the OFFER_MADE body.
    offers: new Map(),
    // Offer events, oldest first: {kind, at (ms or null), replayed, body}. Events
    // replayed at subscription are `replayed`; only offers made carry a time then.
    timeline: [],
    // Allocation samples for the chart: {t, cpus, mem, cpusOffered} as fractions.
    samples: [],
    listeners: new Set(),
    // Pages that show the overview keep it fresh; others do not pay for it.
    overviewWanted: 0,
    // The number of the latest event on the stream (the master numbers them).
    lastSeq: 0,
  };

  function setOverview(ov) {
    live.overview = ov;
    const r = ov.resources || {};
    const frac = (a, b) => (num(b) > 0 ? num(a) / num(b) : 0);
    const t = Date.now();
    live.samples.push({
      t,
      cpus: frac(r.used && r.used.cpus, r.total && r.total.cpus),
      mem: frac(r.used && r.used.mem, r.total && r.total.mem),
      cpusOffered: frac(r.offered && r.offered.cpus, r.total && r.total.cpus),
    });
    while (live.samples.length > 2 && live.samples[1].t < t - CHART_WINDOW_MS) live.samples.shift();
    live.uptimeAt = { secs: num(ov.uptime_secs), at: Date.now() };
    drawFooter();
  }

  function drawFooter() {
    const ov = live.overview;
    const info = document.getElementById('master-info');
    if (!ov || !info) return;
    const m = ov.master || {};
    const up = live.uptimeAt.secs + (Date.now() - live.uptimeAt.at) / 1000;
    info.textContent = `master ${m.hostname || ''}:${m.port || ''} · id ${shortId(m.id)} · up ${fmtDuration(up)}`;
  }
  setInterval(() => {
    if (!document.hidden) drawFooter();
  }, 5000);

  // The master renders the overview at most once a second for all readers and
  // says which event it includes: one older than an event this page has seen
  // is asked for again, after the throttle.
  const overviewRefresher = makeRefresher(async () => {
    const ov = await api('/api/v1/ui/overview');
    setOverview(ov);
    emit('OVERVIEW', live.overview);
    if (num(ov.as_of_event) < live.lastSeq) overviewRefresher.schedule();
  }, 2000);

  function frameworkName(id) {
    const ov = live.overview;
    if (ov) {
      for (const f of ov.frameworks || []) if (f.id === id) return f.name;
      for (const f of ov.completed_frameworks || []) if (f.id === id) return f.name;
    }
    return null;
  }

  function frameworkLink(id, name) {
    const label = name || frameworkName(id) || shortId(id);
    return h('a', { href: `#/frameworks/${enc(id)}`, title: id, 'data-key': `fw-${id}` }, label);
  }

  function agentLink(id, hostname) {
    return h('a', { href: `#/agents/${enc(id)}`, title: id, 'data-key': `ag-${id}` },
      hostname ? `${hostname} (${shortId(id)})` : shortId(id));
  }

  function recordOffer(kind, body, at, replayed) {
    const entry = { kind, at, body, replayed };
    if (kind === 'OFFER_MADE') {
      const o = body.offer || {};
      if (o.id) live.offers.set(o.id, o);
      if (live.offers.size > 50000) live.offers.delete(live.offers.keys().next().value);
    } else {
      const ids = body.offer_ids || (body.offer_id ? [body.offer_id] : []);
      entry.offers = ids.map((id) => live.offers.get(id)).filter(Boolean);
      for (const id of ids) live.offers.delete(id);
    }
    live.timeline.push(entry);
    if (live.timeline.length > TIMELINE_MAX) live.timeline.splice(0, live.timeline.length - TIMELINE_MAX);
  }

  function emit(type, body) {
    for (const fn of live.listeners) {
      try {
        fn(type, body);
      } catch (e) {
        console.error(e);
      }
    }
  }

  function setConn(state, text) {
    const el = document.getElementById('conn');
    const label = document.getElementById('conn-text');
    if (!el || !label) return;
    el.className = `conn ${state}`;
    label.textContent = text;
  }

  // The stream is closed when the page is hidden for good or put in the
  // back/forward cache: an open stream would hold one of the browser's six
  // connections to the master after the page is gone.
  let stream = null;
  window.addEventListener('pagehide', () => {
    if (stream) stream.close();
    stream = null;
  });
  window.addEventListener('pageshow', (e) => {
    if (e.persisted && !stream) connect();
  });

  function connect() {
    const es = new EventSource('/api/v1/events');
    stream = es;
    es.addEventListener('open', () => setConn('live', 'live'));
    es.addEventListener('error', () => {
      setConn('down', es.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…');
    });
    es.addEventListener('SUBSCRIBED', (e) => {
      const ov = JSON.parse(e.data).subscribed.overview;
      live.lastSeq = num(ov.as_of_event);
      // A (re)subscription replays the recent offer events; offers made carry
      // the time the master made them, the other kinds no time.
      live.timeline = [];
      live.offers.clear();
      for (const ev of ov.recent_offer_events || []) {
        const kind = ev.type;
        const body = ev[kind.toLowerCase()] || {};
        const made = kind === 'OFFER_MADE' && body.offer ? num(body.offer.made_at) : 0;
        recordOffer(kind, body, made ? made * 1000 : null, true);
      }
      setOverview(ov);
      setConn('live', 'live');
      emit('SUBSCRIBED', ov);
    });
    for (const type of EVENT_TYPES) {
      es.addEventListener(type, (e) => {
        metrics.events += 1;
        metrics.lastEventAt = Date.now();
        if (e.lastEventId) live.lastSeq = Math.max(live.lastSeq, Number(e.lastEventId) || 0);
        const ev = JSON.parse(e.data);
        const body = ev[type.toLowerCase()] || {};
        if (type.startsWith('OFFER_')) recordOffer(type, body, Date.now(), false);
        if (type !== 'HEARTBEAT' && live.overviewWanted > 0) overviewRefresher.schedule();
        emit(type, body);
      });
    }
  }

  // === pages: lifecycle and routing =====================================================

  // What a page owns; everything is released when the user navigates away.
  class PageContext {
    constructor() {
      this.abort = new AbortController();
      this.cleanups = [];
    }

    get signal() {
      return this.abort.signal;
    }

    api(path) {
      return api(path, this.signal);
    }

    // Calls fn(type, body) for the stream's events while the page is shown.
    listen(fn) {
      live.listeners.add(fn);
      this.cleanups.push(() => live.listeners.delete(fn));
    }

    refresher(fn, baseMs) {
      const r = makeRefresher(fn, baseMs);
      this.cleanups.push(() => r.stop());
      return r;
    }

    every(ms, fn) {
      const id = setInterval(() => {
        if (!document.hidden) fn();
      }, ms);
      this.cleanups.push(() => clearInterval(id));
    }

    wantOverview() {
      live.overviewWanted += 1;
      this.cleanups.push(() => {
        live.overviewWanted -= 1;
      });
    }

    onCleanup(fn) {
      this.cleanups.push(fn);
    }

    dispose() {
      this.abort.abort();
      for (const fn of this.cleanups.splice(0)) fn();
    }
  }

  // Marks the first complete render of a page, for tests and benchmarks.
  const rendered = new Set();
  function markRendered(page) {
    document.body.dataset.rendered = page;
    if (rendered.has(page)) return;
    rendered.add(page);
    performance.mark(`strata:rendered:${page}`);
  }

  const routes = [];
  function route(pattern, nav, title, fn) {
    routes.push({ pattern, nav, title, fn });
  }

  let current = null;
  let lastPath = null;

  function parseHash() {
    const raw = location.hash.replace(/^#/, '') || '/';
    const at = raw.indexOf('?');
    const path = at >= 0 ? raw.slice(0, at) : raw;
    const params = new URLSearchParams(at >= 0 ? raw.slice(at + 1) : '');
    return { path: path || '/', params };
  }

  // Rewrites the query part of the hash without a navigation (filters, paging).
  function setParams(params) {
    const { path } = parseHash();
    const q = query(params);
    history.replaceState(null, '', `#${path}${q}`);
  }

  function render() {
    const { path, params } = parseHash();
    const main = document.getElementById('main');
    if (current) current.dispose();
    current = new PageContext();
    let match = null;
    let r = null;
    for (const candidate of routes) {
      match = candidate.pattern.exec(path);
      if (match) {
        r = candidate;
        break;
      }
    }
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (r && a.dataset.nav === r.nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    main.replaceChildren();
    if (!r) {
      document.title = 'Not found · Strata';
      main.append(h('h1', { tabindex: -1 }, 'Not found'),
        h('p', null, 'No page at ', h('code', null, path), '. ', h('a', { href: '#/' }, 'Back to the overview.')));
      return;
    }
    const args = match.slice(1).map((x) => decodeURIComponent(x));
    document.title = `${typeof r.title === 'function' ? r.title(...args) : r.title} · Strata`;
    r.fn(current, main, params, ...args);
    // Move focus to the new page's heading for keyboard and screen-reader users,
    // but not on the first load (the browser's own focus handling applies).
    if (lastPath !== null && lastPath !== path) {
      const h1 = main.querySelector('h1');
      if (h1) {
        h1.setAttribute('tabindex', '-1');
        h1.focus({ preventScroll: true });
      }
      window.scrollTo(0, 0);
    }
    lastPath = path;
  }

  // === shared components ===============================================================

  function panel(title, ...kids) {
    const id = `p-${Math.random().toString(36).slice(2, 9)}`;
    return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), ...kids);
  }

  function table(caption, headers, rows, empty) {
    if (!rows.length) return h('p', { class: 'empty' }, empty || 'Nothing to show.');
    return h('div', { class: 'table-wrap' },
      h('table', null,
        caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
        h('thead', null, h('tr', null, headers.map((x) => {
          const [label, cls] = Array.isArray(x) ? x : [x, null];
          return h('th', { scope: 'col', class: cls }, label);
        }))),
        h('tbody', null, rows)));
  }

  // A used/offered/idle bar; decorative (the numbers are in the table).
  function allocBar(total, used, offered) {
    total = num(total);
    const pct = (v) => (total > 0 ? `${Math.min(100, (100 * num(v)) / total)}%` : '0%');
    return h('div', { class: 'bar', 'aria-hidden': 'true' },
      h('span', { class: 'used', style: { width: pct(used) } }),
      h('span', { class: 'offered', style: { width: pct(offered) } }));
  }

  function shareBar(share) {
    const pct = Math.max(0, Math.min(1, num(share))) * 100;
    return h('div', { class: 'share' },
      h('div', { class: 'bar', 'aria-hidden': 'true' }, h('span', { class: 'used', style: { width: `${pct}%` } })),
      h('span', null, `${nf.format(pct)}%`));
  }

  // Paging controls: "51–100 of 2,000", previous / next.
  function pager(total, offset, limit, go, label) {
    const from = total ? offset + 1 : 0;
    const to = Math.min(total, offset + limit);
    return h('nav', { class: 'pager', 'aria-label': `${label} pages` },
      h('button', {
        type: 'button', 'data-key': `${label}-prev`, disabled: offset <= 0,
        onclick: () => go(Math.max(0, offset - limit)),
      }, '← Previous'),
      h('span', { class: 'range', role: 'status' }, `${fmtInt(from)}–${fmtInt(to)} of ${fmtInt(total)}`),
      h('button', {
        type: 'button', 'data-key': `${label}-next`, disabled: offset + limit >= total,
        onclick: () => go(offset + limit),
      }, 'Next →'));
  }

  function debounce(fn, ms) {
    let t = null;
    return (...args) => {
      clearTimeout(t);
      t = setTimeout(() => fn(...args), ms);
    };
  }

  function facts(pairs) {
    return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
  }

  // === the allocation chart ===

  function drawChart(box) {
    const w = Math.max(320, box.clientWidth || 600);
    const H = 220;
    const pad = { l: 40, r: 10, t: 10, b: 24 };
    const now = Date.now();
    const t0 = now - CHART_WINDOW_MS;
    const x = (t) => pad.l + ((Math.max(t, t0) - t0) / CHART_WINDOW_MS) * (w - pad.l - pad.r);
    const y = (f) => pad.t + (1 - Math.max(0, Math.min(1, f))) * (H - pad.t - pad.b);
    const svg = s('svg', { viewBox: `0 0 ${w} ${H}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc' });
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      svg.append(s('line', { class: 'grid-line', x1: pad.l, x2: w - pad.r, y1: y(f), y2: y(f) }),
        s('text', { class: 'axis-label', x: pad.l - 6, y: y(f) + 4, 'text-anchor': 'end' }, `${f * 100}%`));
    }
    for (let m = 10; m >= 0; m -= 2) {
      svg.append(s('text', { class: 'axis-label', x: x(now - m * 60000), y: H - 6, 'text-anchor': 'middle' },
        m === 0 ? 'now' : `-${m}m`));
    }
    const pts = live.samples;
    for (const [key, cls] of [['cpus', 'cpus-used'], ['mem', 'mem-used'], ['cpusOffered', 'cpus-offered']]) {
      if (!pts.length) break;
      // A step line: a value holds until the next snapshot, and until now for the last.
      let d = `M${x(pts[0].t)},${y(pts[0][key])}`;
      for (let i = 1; i < pts.length; i++) d += `H${x(pts[i].t)}V${y(pts[i][key])}`;
      d += `H${x(now)}`;
      svg.append(s('path', { class: `series ${cls}`, d }));
    }
    const last = pts[pts.length - 1];
    const desc = last
      ? `Now ${nf.format(last.cpus * 100)}% of cpus and ${nf.format(last.mem * 100)}% of memory are used, ${nf.format(last.cpusOffered * 100)}% of cpus are offered.`
      : 'No samples yet.';
    svg.prepend(s('title', { id: 'chart-title' }, 'Allocation over the last 10 minutes'), s('desc', { id: 'chart-desc' }, desc));
    box.replaceChildren(svg);
  }

  // === pages ===========================================================================

  // --- overview ---

  route(/^\/$/, 'overview', 'Overview', (ctx, main) => {
    ctx.wantOverview();
    const stats = h('ul', { class: 'stats', 'aria-label': 'Cluster summary' });
    const resources = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const chartBox = h('div', { class: 'chart-box' });
    const states = h('div');
    const fws = h('div');
    main.append(
      h('h1', null, 'Cluster overview'),
      stats,
      h('div', { class: 'grid two' },
        panel('Resources',
          resources,
          h('ul', { class: 'legend', 'aria-label': 'Bar colours' },
            h('li', { class: 'used' }, 'used by tasks'), h('li', { class: 'offered' }, 'offered'),
            h('li', { class: 'idle' }, 'idle'))),
        panel('Allocation, last 10 minutes',
          h('figure', { class: 'chart' }, chartBox,
            h('figcaption', null,
              h('ul', { class: 'legend' },
                h('li', { class: 'cpus-used' }, 'cpus used'), h('li', { class: 'mem-used' }, 'memory used'),
                h('li', { class: 'cpus-offered' }, 'cpus offered (dashed)')))))),
      h('div', { class: 'grid two' }, panel('Tasks by state', states), panel('Frameworks', fws)));

    function stat(label, value, detail, testid) {
      return h('li', null, h('span', { class: 'label' }, label),
        h('span', { class: 'value', 'data-testid': testid }, value),
        detail ? h('span', { class: 'detail' }, detail) : null);
    }

    function draw(ov) {
      const r = ov.resources || {};
      const tot = r.total || {};
      const used = r.used || {};
      const off = r.offered || {};
      const idle = r.idle || {};
      const running = num((ov.tasks_by_state || {}).TASK_RUNNING);
      const fwTotal = ov.frameworks_total != null ? ov.frameworks_total : (ov.frameworks || []).length;
      const connected = ov.frameworks_connected != null ? ov.frameworks_connected
        : (ov.frameworks || []).filter((f) => f.connected).length;
      swap(stats,
        stat('Agents', fmtInt(ov.agents.active), `${fmtInt(ov.agents.unreachable)} unreachable · ${fmtInt(ov.agents.total)} known`, 'agents-active'),
        stat('Frameworks', fmtInt(fwTotal), `${fmtInt(connected)} connected`, 'frameworks-count'),
        stat('Running tasks', fmtInt(running), null, 'tasks-running'),
        stat('Outstanding offers', fmtInt(ov.outstanding_offers), null, 'offers-outstanding'),
        stat('Master uptime', fmtDuration(ov.uptime_secs), null, 'uptime'));
      const rows = ['cpus', 'mem', 'disk', 'gpus'].map((k) => h('tr', null,
        h('th', { scope: 'row' }, k),
        h('td', { class: 'num', 'data-testid': `res-total-${k}` }, fmtScalar(k, tot[k])),
        h('td', { class: 'num', 'data-testid': `res-used-${k}` }, fmtScalar(k, used[k])),
        h('td', { class: 'num' }, fmtScalar(k, off[k])),
        h('td', { class: 'num' }, fmtScalar(k, idle[k])),
        h('td', null, allocBar(tot[k], used[k], off[k]))));
      const p = r.ports || {};
      rows.push(h('tr', null, h('th', { scope: 'row' }, 'ports'),
        h('td', { class: 'num', 'data-testid': 'res-total-ports' }, fmtInt(p.total)),
        h('td', { class: 'num' }, fmtInt(p.used)), h('td', { class: 'num' }, fmtInt(p.offered)),
        h('td', { class: 'num' }, fmtInt(num(p.total) - num(p.used) - num(p.offered))),
        h('td', null, allocBar(p.total, p.used, p.offered))));
      swap(resources, table('Cluster resources', ['Resource', ['Total', 'num'], ['Used', 'num'],
        ['Offered', 'num'], ['Idle', 'num'], 'Allocation'], rows));
      const byState = Object.entries(ov.tasks_by_state || {});
      swap(states, table('Tasks by state', ['State', ['Tasks', 'num']],
        byState.map(([st, n]) => h('tr', null,
          h('td', null, h('a', { href: `#/tasks?state=${enc(st)}`, 'data-key': `st-${st}` }, stateBadge(st))),
          h('td', { class: 'num' }, fmtInt(n)))), 'No tasks yet.'));
      swap(fws, table('Frameworks', ['Framework', 'DRF share', ['Tasks', 'num'], ['Offers received / accepted / declined', 'num']],
        (ov.frameworks || []).map((f) => h('tr', null,
          h('td', null, frameworkLink(f.id, f.name)), h('td', null, shareBar(f.share)),
          h('td', { class: 'num' }, fmtInt(f.tasks)),
          h('td', { class: 'num' }, `${fmtInt(f.offers.received)} / ${fmtInt(f.offers.accepted)} / ${fmtInt(f.offers.declined)}`))),
        'No framework is subscribed.'),
      fwTotal > (ov.frameworks || []).length
        ? h('p', { class: 'status-line' }, `The ${fmtInt((ov.frameworks || []).length)} largest shares of ${fmtInt(fwTotal)} frameworks. `,
          h('a', { href: '#/frameworks' }, 'All frameworks'))
        : null);
      drawChart(chartBox);
      markRendered('overview');
    }

    ctx.listen((type, body) => {
      if (type === 'OVERVIEW' || type === 'SUBSCRIBED') draw(body);
    });
    ctx.every(5000, () => drawChart(chartBox));
    const onResize = debounce(() => drawChart(chartBox), 200);
    window.addEventListener('resize', onResize);
    ctx.onCleanup(() => window.removeEventListener('resize', onResize));
    if (live.overview) draw(live.overview);
    overviewRefresher.schedule();
  });

  // A CommandInfo as the user would type it: the shell string, or the argv.
  function commandLine(c) {
    if (c.shell === false && (c.arguments || []).length) return c.arguments.map((a) => (/[\s"'$]/.test(a) ? JSON.stringify(a) : a)).join(' ');
    return c.value || '';
  }

  // --- offers ---

  function offerLine(e) {
    const b = e.body;
    const fw = b.framework_id || (b.offer && b.offer.framework_id);
    const fwEl = fw ? frameworkLink(fw) : '?';
    const agentOf = (o) => (o ? agentLink(o.agent_id, o.hostname) : null);
    switch (e.kind) {
      case 'OFFER_MADE': {
        const o = b.offer || {};
        return ['to ', fwEl, ' on ', agentLink(o.agent_id, o.hostname), ': ', fmtResources(o.resources)];
      }
      case 'OFFER_ACCEPTED': {
        const tasks = b.task_ids || [];
        const o = (e.offers || [])[0];
        return ['by ', fwEl, ' on ', o ? agentOf(o) : agentLink(b.agent_id), ': ',
          tasks.length ? [`launched ${tasks.length} task${tasks.length === 1 ? '' : 's'} `,
            h('span', { class: 'mono' }, tasks.slice(0, 8).join(', ')), tasks.length > 8 ? ` and ${tasks.length - 8} more` : '']
            : 'no tasks (resources returned)'];
      }
      case 'OFFER_DECLINED': {
        const o = (e.offers || [])[0];
        return ['by ', fwEl, o ? [' on ', agentOf(o)] : '', `: filtered for ${fmtDuration(b.refuse_seconds)}`,
          num(b.refuse_seconds) >= 1 ? '' : ' (no filter)'];
      }
      case 'OFFER_RESCINDED': {
        const o = (e.offers || [])[0];
        return ['from ', fwEl, ' on ', o ? agentOf(o) : agentLink(b.agent_id)];
      }
      default:
        return [];
    }
  }

  const KIND_LABEL = {
    OFFER_MADE: 'made', OFFER_ACCEPTED: 'accepted', OFFER_DECLINED: 'declined', OFFER_RESCINDED: 'rescinded',
  };

  route(/^\/offers$/, 'offers', 'Offers', (ctx, main, params) => {
    ctx.wantOverview();
    const shown = new Set((params.get('kinds') || 'OFFER_MADE,OFFER_ACCEPTED,OFFER_DECLINED,OFFER_RESCINDED').split(','));
    let fwFilter = params.get('framework') || '';
    const perFw = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const outstanding = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const strip = h('div', { class: 'timeline-strip' });
    const list = h('ol', { class: 'timeline', 'aria-label': 'Offer events, newest first', 'data-testid': 'offer-timeline' });
    const fwSelect = h('select', { id: 'tl-fw' });
    const since = h('p', { class: 'status-line' });
    let offset = 0;
    const LIMIT = 50;

    const kindBoxes = OFFER_KINDS.map((k) => h('label', { class: 'check' },
      h('input', {
        type: 'checkbox', checked: shown.has(k),
        onchange: (e) => {
          if (e.target.checked) shown.add(k);
          else shown.delete(k);
          keep();
          drawList();
        },
      }), KIND_LABEL[k]));
    fwSelect.addEventListener('change', () => {
      fwFilter = fwSelect.value;
      keep();
      drawList();
    });

    function keep() {
      setParams({ kinds: shown.size === 4 ? '' : [...shown].join(','), framework: fwFilter });
    }

    main.append(
      h('h1', null, 'Offers'),
      panel('Offer flow, last 2 minutes', strip,
        h('ul', { class: 'legend', 'aria-label': 'Lanes' },
          h('li', { class: 'made' }, 'made'), h('li', { class: 'accepted' }, 'accepted'),
          h('li', { class: 'declined' }, 'declined'), h('li', { class: 'rescinded' }, 'rescinded'))),
      panel('Per framework', perFw),
      h('div', { class: 'grid two' },
        panel('Timeline',
          h('div', { class: 'toolbar' },
            h('fieldset', null, h('legend', null, 'Show'), kindBoxes),
            h('label', { for: 'tl-fw' }, 'Framework', fwSelect)),
          since, list),
        panel('Outstanding offers', outstanding)));

    // Busy clusters make thousands of offers a second: the timeline is redrawn
    // at most four times a second, in an animation frame.
    let frame = 0;
    let lastDraw = 0;
    let drawTimer = null;
    function drawListSoon() {
      if (frame || drawTimer) return;
      drawTimer = setTimeout(() => {
        drawTimer = null;
        frame = requestAnimationFrame(() => {
          frame = 0;
          lastDraw = performance.now();
          drawList();
          drawStrip();
        });
      }, Math.max(0, lastDraw + 250 - performance.now()));
    }
    ctx.onCleanup(() => {
      cancelAnimationFrame(frame);
      clearTimeout(drawTimer);
    });

    function drawList() {
      const items = [];
      for (let i = live.timeline.length - 1; i >= 0 && items.length < 200; i--) {
        const e = live.timeline[i];
        if (!shown.has(e.kind)) continue;
        const fw = e.body.framework_id || (e.body.offer && e.body.offer.framework_id);
        if (fwFilter && fw !== fwFilter) continue;
        const kind = KIND_LABEL[e.kind];
        items.push(h('li', { class: e.replayed ? `${kind} replayed` : kind, 'data-kind': kind },
          e.at ? h('time', { datetime: new Date(e.at).toISOString(), title: e.replayed ? 'before this page was opened' : null }, fmtClock(e.at))
            : h('time', { title: 'before this page was opened' }, 'earlier'),
          h('span', { class: `kind ${kind}` }, kind),
          h('span', { class: 'what' }, offerLine(e))));
      }
      if (!items.length) items.push(h('li', { class: 'empty' }, 'No offer events yet.'));
      list.replaceChildren(...items);
      const counts = {};
      for (const e of live.timeline) if (!e.replayed) counts[e.kind] = (counts[e.kind] || 0) + 1;
      since.textContent = `Since this page was opened: ${OFFER_KINDS.map((k) => `${fmtInt(counts[k] || 0)} ${KIND_LABEL[k]}`).join(', ')}.`;
    }

    function drawStrip() {
      const w = Math.max(320, strip.clientWidth || 600);
      const H = 120;
      const left = 80;
      const now = Date.now();
      const span = 120000;
      const x = (t) => left + ((t - (now - span)) / span) * (w - left - 8);
      const svg = s('svg', { viewBox: `0 0 ${w} ${H}`, role: 'img', 'aria-label': 'Offer events in the last two minutes by kind' });
      const lane = {};
      OFFER_KINDS.forEach((k, i) => {
        lane[k] = 12 + i * 26;
        svg.append(s('text', { class: 'lane-label', x: 4, y: lane[k] + 12 }, KIND_LABEL[k]),
          s('line', { class: 'grid-line', x1: left, x2: w - 8, y1: lane[k] + 18, y2: lane[k] + 18 }));
      });
      const counts = {};
      for (let i = live.timeline.length - 1; i >= 0; i--) {
        const e = live.timeline[i];
        // Replayed events other than offers made have no time.
        if (!e.at) continue;
        if (e.at < now - span) break;
        counts[e.kind] = (counts[e.kind] || 0) + 1;
        const n = e.kind === 'OFFER_ACCEPTED' ? (e.body.task_ids || []).length : 0;
        svg.append(s('rect', {
          class: `tick ${KIND_LABEL[e.kind]}`, x: x(e.at) - 1.5, y: lane[e.kind] + 2,
          width: 3, height: n ? 16 : 12, rx: 1,
        }));
      }
      for (const k of OFFER_KINDS) {
        svg.append(s('text', { class: 'lane-label', x: w - 10, y: lane[k] + 12, 'text-anchor': 'end' }, fmtInt(counts[k] || 0)));
      }
      strip.replaceChildren(svg);
    }

    function drawPerFw(ov) {
      const fws = ov.frameworks || [];
      const prev = fwSelect.value || fwFilter;
      fwSelect.replaceChildren(h('option', { value: '' }, 'all'),
        fws.map((f) => h('option', { value: f.id, selected: f.id === prev }, f.name || f.id)));
      swap(perFw, table('Offers per framework',
        ['Framework', 'Role', ['Received', 'num'], ['Accepted', 'num'], ['Declined', 'num'], ['Rescinded', 'num'],
          ['Outstanding', 'num'], 'DRF share'],
        fws.map((f) => h('tr', null, h('td', null, frameworkLink(f.id, f.name)), h('td', null, f.role || '*'),
          h('td', { class: 'num' }, fmtInt(f.offers.received)), h('td', { class: 'num' }, fmtInt(f.offers.accepted)),
          h('td', { class: 'num' }, fmtInt(f.offers.declined)), h('td', { class: 'num' }, fmtInt(f.offers.rescinded)),
          h('td', { class: 'num' }, fmtInt(f.outstanding_offers)), h('td', null, shareBar(f.share)))),
        'No framework is subscribed.'));
    }

    // Ages come from the master (when it made each offer) and tick on here.
    let fetchedAt = Date.now();
    function age(td) {
      return fmtDuration(num(Number(td.dataset.age)) + (Date.now() - fetchedAt) / 1000);
    }
    let offerQ = '';
    const offerSearch = h('input', {
      type: 'search', id: 'offers-q', placeholder: 'offer id or agent hostname', autocomplete: 'off',
      oninput: debounce(() => {
        offerQ = offerSearch.value.trim();
        offset = 0;
        offersRefresher.schedule();
      }, 300),
    });
    outstanding.before(h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => e.preventDefault() },
      h('label', { for: 'offers-q' }, 'Search outstanding offers', offerSearch)));

    let lastOffers = null;
    function drawOutstanding(v) {
      lastOffers = v;
      fetchedAt = Date.now();
      swap(outstanding,
        table('Outstanding offers', ['Offer', 'Framework', 'Role', 'Agent', 'Resources', ['Age', 'num'], ['Expires in', 'num']],
          v.items.map((o) => h('tr', null,
            h('td', { class: 'id' }, idEl(o.id)), h('td', null, frameworkLink(o.framework_id, o.framework_name)),
            h('td', null, o.role), h('td', null, agentLink(o.agent_id, o.hostname)),
            h('td', null, fmtResources(o.resources)),
            h('td', { class: 'num', 'data-age': num(o.age_secs), title: o.made_at ? `made ${fmtUnix(o.made_at)}` : null }, fmtDuration(o.age_secs)),
            h('td', { class: 'num' }, o.expires_in_secs == null ? 'never' : fmtDuration(o.expires_in_secs)))),
          offerQ ? `No outstanding offer matches “${offerQ}”.` : 'No outstanding offers: every offer was accepted, declined or rescinded.'),
        v.total > LIMIT ? pager(v.total, offset, LIMIT, (o) => {
          offset = o;
          offersRefresher.schedule();
        }, 'Outstanding offers') : null);
    }

    const offersRefresher = ctx.refresher(async () => {
      drawOutstanding(await ctx.api(`/api/v1/ui/offers${query({ q: offerQ, offset, limit: LIMIT })}`));
      markRendered('offers');
    }, 1000);

    ctx.listen((type, body) => {
      if (type === 'OVERVIEW' || type === 'SUBSCRIBED') drawPerFw(body);
      if (type === 'SUBSCRIBED' || type === 'OVERVIEW') drawListSoon();
      if (type.startsWith('OFFER_') || type === 'SUBSCRIBED' || type === 'AGENT_REMOVED' || type === 'FRAMEWORK_REMOVED') {
        offersRefresher.schedule();
      }
      if (type.startsWith('OFFER_')) drawListSoon();
    });
    ctx.every(1000, () => {
      drawStrip();
      if (lastOffers) {
        for (const td of outstanding.querySelectorAll('[data-age]')) td.textContent = age(td);
      }
    });
    if (live.overview) drawPerFw(live.overview);
    drawList();
    drawStrip();
    offersRefresher.schedule();
    overviewRefresher.schedule();
  });

  // --- agents ---

  function agentRow(a) {
    const free = a.free || {};
    const res = a.resources || {};
    const status = a.active ? h('span', { class: 'badge ok' }, 'active')
      : a.unreachable ? h('span', { class: 'badge bad' }, 'unreachable') : h('span', { class: 'badge warn' }, 'disconnected');
    const pair = (k) => `${fmtScalar(k, free[k])} / ${fmtScalar(k, res[k])}`;
    const attrs = (a.attributes || []).map((x) => `${x.name}:${x.text ? x.text.value : x.scalar ? x.scalar.value : ''}`).join(', ');
    return h('tr', null,
      h('td', null, h('a', { href: `#/agents/${enc(a.id)}`, 'data-key': `ag-${a.id}` }, a.hostname || a.id),
        h('div', { class: 'id' }, idEl(a.id))),
      h('td', null, status),
      h('td', { class: 'num' }, pair('cpus')), h('td', { class: 'num' }, pair('mem')),
      h('td', { class: 'num' }, pair('disk')),
      h('td', { class: 'num' }, `${fmtInt(rangeCount(free.ports))} / ${fmtInt(rangeCount(res.ports))}`),
      h('td', { class: 'num' }, h('a', { href: `#/tasks?agent=${enc(a.id)}` }, fmtInt(a.tasks))),
      h('td', null, a.isolation || '—'), h('td', null, attrs || '—'));
  }

  route(/^\/agents$/, 'agents', 'Agents', (ctx, main, params) => {
    let q = params.get('q') || '';
    let offset = Number(params.get('offset')) || 0;
    const LIMIT = 50;
    const box = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const status = h('p', { class: 'status-line', role: 'status' });
    const search = h('input', {
      type: 'search', id: 'agents-q', value: q, placeholder: 'id or hostname', autocomplete: 'off',
      oninput: debounce(() => {
        q = search.value.trim();
        offset = 0;
        setParams({ q, offset: '' });
        refresh.schedule();
      }, 300),
    });
    main.append(h('h1', null, 'Agents'),
      h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => e.preventDefault() },
        h('label', { for: 'agents-q' }, 'Search agents', search)),
      status, box);
    const refresh = ctx.refresher(async () => {
      const v = await ctx.api(`/api/v1/ui/agents${query({ q, offset, limit: LIMIT })}`);
      if (v.total && offset >= v.total) {
        offset = Math.max(0, Math.floor((v.total - 1) / LIMIT) * LIMIT);
        refresh.schedule();
      }
      swap(box,
        table('Agents', ['Agent', 'Status', ['CPUs free / total', 'num'], ['Memory free / total', 'num'],
          ['Disk free / total', 'num'], ['Ports free / total', 'num'], ['Tasks', 'num'], 'Isolation', 'Attributes'],
        v.items.map(agentRow), q ? `No agent matches “${q}”.` : 'No agent has registered.'),
        pager(v.total, offset, LIMIT, (o) => {
          offset = o;
          setParams({ q, offset: o || '' });
          refresh.schedule();
        }, 'Agents'));
      status.textContent = `${fmtInt(v.total)} agent${v.total === 1 ? '' : 's'}${q ? ` matching “${q}”` : ''}; updated ${fmtClock(Date.now())}.`;
      markRendered('agents');
    }, 1000);
    ctx.listen((type) => {
      if (type.startsWith('AGENT_') || type === 'TASK_ADDED' || type === 'SUBSCRIBED') refresh.schedule();
      if (type === 'TASK_UPDATED') refresh.schedule();
    });
    refresh.schedule();
  });

  // Finds where a task's sandbox is in an agent's /state: the directory of the
  // executor (running or completed) that holds the task.
  function findSandbox(state, frameworkId, taskId, executorId) {
    for (const fw of state.frameworks || []) {
      if (fw.id !== frameworkId) continue;
      for (const [list, completed] of [[fw.executors || [], false], [fw.completed_executors || [], true]]) {
        for (const ex of list) {
          const tasks = [...(ex.tasks || []), ...(ex.queued_tasks || []), ...(ex.completed_tasks || [])];
          if (tasks.some((t) => t.id === taskId) || (executorId && ex.id === executorId)) {
            return { directory: ex.directory, executor: ex, completed };
          }
        }
      }
    }
    return null;
  }

  // --- sandbox: file browser and log tail ---

  function filesUrl(agentId, op, params) {
    return `/api/v1/ui/agents/${enc(agentId)}/files/${op}${query(params)}`;
  }

  // Tails a file through /files/read: asks for the size (offset -1), then reads
  // only the bytes not shown yet. Offsets are byte offsets; reads are exact
  // because the length asked never goes past the size just read.
  const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

  function logView(ctx, agentId, path, opts) {
    const CHUNK = 64 * 1024;
    const KEEP = 1024 * 1024;
    const name = path.split('/').pop();
    const pre = h('pre', {
      class: 'log', tabindex: 0, role: 'log', 'aria-live': 'off', 'aria-label': `Contents of ${name}`,
      'data-testid': `log-${name}`,
    });
    const info = h('span', { role: 'status' });
    const follow = h('input', { type: 'checkbox', checked: true, id: `follow-${name}` });
    const earlier = h('button', { type: 'button', disabled: true, onclick: () => loadEarlier() }, 'Load earlier');
    let start = null;
    let end = null;
    let chunks = [];
    let busy = false;
    let quietPolls = 0;
    let stopped = false;

    function show() {
      // Executors log with terminal colours; show the text without the escapes.
      pre.textContent = chunks.map((c) => c.text).join('').replace(ANSI, '');
      earlier.disabled = !(start > 0);
      info.textContent = `${name}: bytes ${fmtInt(start)}–${fmtInt(end)}${start > 0 ? ' (earlier output not loaded)' : ''}`;
    }

    async function size() {
      return (await ctx.api(filesUrl(agentId, 'read', { path, offset: -1 }))).offset;
    }

    async function read(offset, length) {
      const r = await ctx.api(filesUrl(agentId, 'read', { path, offset, length }));
      return r.data || '';
    }

    async function poll() {
      if (busy || stopped) return;
      busy = true;
      try {
        const sz = await size();
        if (start === null || sz < end) {
          // First read, or the file was truncated: show its last chunk.
          start = Math.max(0, sz - CHUNK);
          end = start;
          chunks = [];
        }
        if (sz > end) {
          const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 24;
          while (end < sz) {
            const n = Math.min(CHUNK, sz - end);
            const text = await read(end, n);
            chunks.push({ offset: end, length: n, text });
            end += n;
          }
          let kept = chunks.reduce((a, c) => a + c.length, 0);
          while (kept > KEEP && chunks.length > 1) kept -= chunks.shift().length;
          start = chunks.length ? chunks[0].offset : end;
          show();
          if (follow.checked || atBottom) pre.scrollTop = pre.scrollHeight;
          quietPolls = 0;
        } else {
          quietPolls += 1;
          show();
        }
        if (opts.onData) opts.onData();
      } catch (e) {
        if (e.name !== 'AbortError') info.textContent = `cannot read ${name}: ${e.message}`;
      } finally {
        busy = false;
      }
    }

    async function loadEarlier() {
      if (!(start > 0)) return;
      const from = Math.max(0, start - CHUNK);
      const text = await read(from, start - from);
      chunks.unshift({ offset: from, length: start - from, text });
      start = from;
      const keepBottom = pre.scrollHeight - pre.scrollTop;
      show();
      pre.scrollTop = pre.scrollHeight - keepBottom;
    }

    // Polls while the task may still write; stops a few polls after it ended.
    ctx.every(1000, () => {
      if (stopped) return;
      if (opts.finished() && quietPolls >= 2) {
        stopped = true;
        info.textContent += ' · task ended, no longer following';
        return;
      }
      poll();
    });
    poll();
    return h('div', null,
      h('div', { class: 'log-bar' }, info,
        h('label', { class: 'check', for: `follow-${name}` }, follow, ' follow'), earlier),
      pre);
  }

  // Lists a sandbox directory; directories open in place, files in the viewer.
  function fileBrowser(ctx, agentId, root, onOpen) {
    const box = h('div');
    let dir = root;

    async function open(path) {
      dir = path;
      swap(box, h('p', { class: 'loading' }, 'Loading…'));
      let items;
      try {
        items = await ctx.api(filesUrl(agentId, 'browse', { path }));
      } catch (e) {
        if (e.name !== 'AbortError') swap(box, errorEl(e));
        return;
      }
      const rel = path.startsWith(root) ? path.slice(root.length) : path;
      const crumbs = [h('button', { type: 'button', class: 'linkish', onclick: () => open(root), 'data-key': 'crumb-root' }, 'sandbox')];
      let acc = root;
      for (const part of rel.split('/').filter(Boolean)) {
        acc = `${acc}/${part}`;
        const target = acc;
        crumbs.push(' / ', h('button', { type: 'button', onclick: () => open(target), 'data-key': `crumb-${target}` }, part));
      }
      const rows = items.map((f) => {
        const fname = f.path.split('/').pop();
        const isDir = String(f.mode).startsWith('d');
        const open_ = isDir
          ? h('a', { href: '#', 'data-key': `f-${f.path}`, onclick: (e) => { e.preventDefault(); open(f.path); } }, `${fname}/`)
          : h('a', { href: '#', 'data-key': `f-${f.path}`, onclick: (e) => { e.preventDefault(); onOpen(f.path); } }, fname);
        return h('tr', null, h('td', null, open_), h('td', { class: 'num' }, isDir ? '—' : fmtBytes(f.size)),
          h('td', null, timeEl(f.mtime)), h('td', { class: 'mono' }, f.mode));
      });
      swap(box, h('nav', { class: 'path', 'aria-label': 'Directory' }, crumbs),
        table(`Files in ${path}`, ['Name', ['Size', 'num'], 'Modified', 'Mode'], rows, 'This directory is empty.'));
    }
    open(root);
    return { el: box, reload: () => open(dir) };
  }

  // The sandbox section: stdout and stderr tails, and the file browser.
  function sandboxView(ctx, agentId, directory, finished) {
    const tabs = [['stdout', 'stdout'], ['stderr', 'stderr'], ['files', 'Files']];
    const body = h('div', { role: 'tabpanel', id: 'sandbox-panel' });
    let viewCtx = null;
    const buttons = tabs.map(([key, label]) => h('button', {
      type: 'button', role: 'tab', id: `tab-${key}`, 'aria-controls': 'sandbox-panel', 'aria-selected': 'false',
      'data-key': `tab-${key}`, onclick: () => select(key), onkeydown: (e) => {
        const i = tabs.findIndex(([k]) => k === key);
        if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
          const next = tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length][0];
          select(next);
          document.getElementById(`tab-${next}`).focus();
        }
      },
    }, label));

    function sub() {
      if (viewCtx) viewCtx.dispose();
      viewCtx = new PageContext();
      ctx.onCleanup(() => viewCtx && viewCtx.dispose());
      return viewCtx;
    }

    function select(key, file) {
      for (const b of buttons) {
        const on = b.id === `tab-${key}`;
        b.setAttribute('aria-selected', on ? 'true' : 'false');
        b.tabIndex = on ? 0 : -1;
      }
      body.setAttribute('aria-labelledby', `tab-${key}`);
      const c = sub();
      if (key === 'files') {
        body.replaceChildren(fileBrowser(c, agentId, directory, (path) => select('file', path)).el);
      } else if (key === 'file') {
        body.replaceChildren(
          h('p', null, h('button', { type: 'button', onclick: () => select('files') }, '← Back to the files'),
            ' ', h('span', { class: 'path' }, file)),
          logView(c, agentId, file, { finished }));
      } else {
        body.replaceChildren(logView(c, agentId, `${directory}/${key}`, { finished }));
      }
    }
    const el = h('div', null,
      h('p', { class: 'path' }, 'Sandbox: ', directory),
      h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Sandbox' }, buttons), body);
    select('stdout');
    return el;
  }

  // --- agent detail ---

  route(/^\/agents\/([^/]+)$/, 'agents', (id) => `Agent ${shortId(id)}`, (ctx, main, params, id) => {
    const head = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const resBox = h('div');
    const exBox = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const tasksBox = h('div');
    main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/agents' }, 'Agents'), ' / ', shortId(id)),
      h('h1', null, 'Agent ', h('span', { class: 'mono' }, shortId(id))),
      h('div', { class: 'grid two' }, panel('About', head), panel('Resources', resBox)),
      panel('Executors and sandboxes', exBox),
      panel('Tasks on this agent', tasksBox));

    const refresh = ctx.refresher(async () => {
      const v = await ctx.api(`/api/v1/ui/agents${query({ id, limit: 1 })}`);
      const a = v.items[0];
      if (!a) {
        swap(head, errorEl(`agent ${id} is not known to the master`));
        return;
      }
      main.querySelector('h1').replaceChildren('Agent ', a.hostname || shortId(id));
      const attrs = (a.attributes || []).map((x) => `${x.name}: ${x.text ? x.text.value : x.scalar ? x.scalar.value : JSON.stringify(x.ranges || x.set || '')}`);
      swap(head, facts([
        ['Id', h('span', { class: 'mono' }, a.id)],
        ['Hostname', a.hostname],
        ['Endpoint', h('span', { class: 'mono' }, a.endpoint)],
        ['Status', a.active ? h('span', { class: 'badge ok' }, 'active') : a.unreachable ? h('span', { class: 'badge bad' }, 'unreachable') : h('span', { class: 'badge warn' }, 'disconnected')],
        ['Registered', timeEl(a.registered_time)],
        ['Version', a.version || '—'],
        ['Containerizer / isolation', a.isolation || '—'],
        ['Attributes', attrs.length ? attrs.join(', ') : 'none'],
        ['Reservations', 'none (roles and reservations are not built yet)'],
        ['Running tasks', fmtInt(a.tasks)],
      ]));
      const free = a.free || {};
      const res = a.resources || {};
      const rows = ['cpus', 'mem', 'disk', 'gpus'].map((k) => h('tr', null, h('th', { scope: 'row' }, k),
        h('td', { class: 'num' }, fmtScalar(k, res[k])),
        h('td', { class: 'num' }, fmtScalar(k, num(res[k]) - num(free[k]))),
        h('td', { class: 'num' }, fmtScalar(k, free[k])),
        h('td', null, allocBar(res[k], num(res[k]) - num(free[k]), 0))));
      rows.push(h('tr', null, h('th', { scope: 'row' }, 'ports'), h('td', { class: 'num' }, res.ports || '—'),
        h('td', { class: 'num' }, fmtInt(rangeCount(res.ports) - rangeCount(free.ports))),
        h('td', { class: 'num' }, free.ports || '—'), h('td', null, allocBar(rangeCount(res.ports), rangeCount(res.ports) - rangeCount(free.ports), 0))));
      swap(resBox, table('Agent resources', ['Resource', ['Total', 'num'], ['Allocated (used or offered)', 'num'], ['Free', 'num'], ''], rows));
      markRendered('agent');
    }, 2000);

    const stateRefresh = ctx.refresher(async () => {
      let st;
      try {
        st = await ctx.api(`/api/v1/ui/agents/${enc(id)}/state`);
      } catch (e) {
        if (e.name !== 'AbortError') swap(exBox, errorEl(e));
        return;
      }
      const rows = [];
      for (const fw of st.frameworks || []) {
        for (const [list, done] of [[fw.executors || [], false], [fw.completed_executors || [], true]]) {
          for (const ex of list) {
            const tasks = [...(ex.tasks || []), ...(ex.completed_tasks || [])];
            rows.push(h('tr', null,
              h('td', { class: 'id' }, idEl(ex.id)),
              h('td', null, frameworkLink(fw.id, fw.name)),
              h('td', null, done ? h('span', { class: 'badge muted' }, 'completed') : h('span', { class: 'badge ok' }, String(ex.state || 'running').toLowerCase())),
              h('td', null, tasks.map((t, i) => [i ? ', ' : '', h('a', { href: `#/tasks/${enc(fw.id)}/${enc(t.id)}` }, t.id)])),
              h('td', null, fmtResources(ex.resources)),
              h('td', null, h('a', { href: `#/agents/${enc(id)}/browse?path=${enc(ex.directory)}` }, 'browse'))));
          }
        }
      }
      swap(exBox, facts([['Agent version', st.strata_version || st.version || '—'], ['Isolation', st.isolation || '—'],
        ['Work directory', h('span', { class: 'mono' }, (st.flags || {}).work_dir || '—')]]),
      table('Executors', ['Executor', 'Framework', 'State', 'Tasks', 'Resources', 'Sandbox'], rows, 'No executors on this agent.'));
    }, 3000);

    tasksBox.append(tasksTable(ctx, { agent: id }, { fixed: ['agent'], limit: 25, label: 'Agent tasks' }));
    ctx.listen((type, body) => {
      if (type.startsWith('AGENT_') || type === 'SUBSCRIBED') refresh.schedule();
      if (type === 'TASK_ADDED' || type === 'TASK_UPDATED') {
        refresh.schedule();
        stateRefresh.schedule();
      }
    });
    refresh.schedule();
    stateRefresh.schedule();
  });

  route(/^\/agents\/([^/]+)\/browse$/, 'agents', 'Sandbox', (ctx, main, params, id) => {
    const path = params.get('path') || '';
    const viewer = h('div');
    main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/agents' }, 'Agents'), ' / ',
      h('a', { href: `#/agents/${enc(id)}` }, shortId(id)), ' / sandbox'),
    h('h1', null, 'Sandbox'), h('p', { class: 'path' }, path));
    let sub = null;
    const browser = fileBrowser(ctx, id, path, (file) => {
      if (sub) sub.dispose();
      sub = new PageContext();
      ctx.onCleanup(() => sub && sub.dispose());
      swap(viewer, h('h2', null, file.split('/').pop()), logView(sub, id, file, { finished: () => false }));
    });
    main.append(panel('Files', browser.el), viewer);
    markRendered('sandbox');
  });

  // --- frameworks ---

  function frameworkStatus(f) {
    if (f.connected) return f.suppressed ? h('span', { class: 'badge warn' }, 'suppressed') : h('span', { class: 'badge ok' }, 'connected');
    return h('span', { class: 'badge bad', title: 'disconnected: removed when its failover timeout passes' },
      f.failover_in_secs != null ? `failing over (${fmtDuration(f.failover_in_secs)} left)` : 'disconnected');
  }

  function rolesOf(f) {
    return (f.roles && f.roles.length ? f.roles : [f.role || '*']).join(', ');
  }

  route(/^\/frameworks$/, 'frameworks', 'Frameworks', (ctx, main, params) => {
    let q = params.get('q') || '';
    let offset = Number(params.get('offset')) || 0;
    let doneOffset = 0;
    const LIMIT = 50;
    const DONE_LIMIT = 20;
    const box = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const done = h('div');
    const status = h('p', { class: 'status-line', role: 'status' });
    const search = h('input', {
      type: 'search', id: 'frameworks-q', value: q, placeholder: 'name, id or role', autocomplete: 'off',
      oninput: debounce(() => {
        q = search.value.trim();
        offset = 0;
        doneOffset = 0;
        setParams({ q, offset: '' });
        refresh.schedule();
      }, 300),
    });
    main.append(h('h1', null, 'Frameworks'),
      h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => e.preventDefault() },
        h('label', { for: 'frameworks-q' }, 'Search frameworks', search)),
      status, panel('Subscribed', box), panel('Completed', done));

    const refresh = ctx.refresher(async () => {
      const [v, c] = await Promise.all([
        ctx.api(`/api/v1/ui/frameworks${query({ q, offset, limit: LIMIT })}`),
        ctx.api(`/api/v1/ui/frameworks${query({ q, state: 'completed', offset: doneOffset, limit: DONE_LIMIT })}`),
      ]);
      if (v.total && offset >= v.total) {
        offset = Math.max(0, Math.floor((v.total - 1) / LIMIT) * LIMIT);
        refresh.schedule();
      }
      swap(box, table('Frameworks', ['Framework', 'Status', 'Roles', 'DRF share', ['Active tasks', 'num'],
        ['CPUs / memory used', 'num'], ['Offers received / accepted / declined', 'num'], ['Failover timeout', 'num'], 'Registered', 'Web UI'],
      v.items.map((f) => h('tr', null,
        h('td', null, frameworkLink(f.id, f.name), h('div', { class: 'id' }, idEl(f.id))),
        h('td', null, frameworkStatus(f)), h('td', null, rolesOf(f)), h('td', null, shareBar(f.share)),
        h('td', { class: 'num' }, h('a', { href: `#/tasks?framework=${enc(f.id)}` }, fmtInt(f.tasks))),
        h('td', { class: 'num' }, `${fmtNum((f.used || {}).cpus)} / ${fmtMB((f.used || {}).mem)}`),
        h('td', { class: 'num' }, `${fmtInt(f.offers.received)} / ${fmtInt(f.offers.accepted)} / ${fmtInt(f.offers.declined)}`),
        h('td', { class: 'num' }, fmtDuration(f.failover_timeout)), h('td', null, agoEl(f.registered_time)),
        h('td', null, f.webui_url ? h('a', { href: f.webui_url, rel: 'noopener noreferrer' }, 'open') : '—'))),
      q ? `No subscribed framework matches “${q}”.` : 'No framework is subscribed.'),
      v.total > LIMIT ? pager(v.total, offset, LIMIT, (o) => {
        offset = o;
        setParams({ q, offset: o || '' });
        refresh.schedule();
      }, 'Frameworks') : null);
      swap(done, table('Completed frameworks', ['Framework', 'Role', ['Tasks', 'num'], 'Removed'],
        c.items.map((f) => h('tr', null,
          h('td', null, h('a', { href: `#/tasks?framework=${enc(f.id)}` }, f.name || f.id), h('div', { class: 'id' }, idEl(f.id))),
          h('td', null, f.role), h('td', { class: 'num' }, fmtInt(f.tasks)), h('td', null, agoEl(f.removed_time)))),
        q ? `No removed framework matches “${q}”.` : 'No framework has been removed.'),
      c.total > DONE_LIMIT ? pager(c.total, doneOffset, DONE_LIMIT, (o) => {
        doneOffset = o;
        refresh.schedule();
      }, 'Completed frameworks') : null);
      const counts = v.counts || {};
      status.textContent = `${fmtInt(counts.active)} subscribed, ${fmtInt(counts.completed)} completed (the master keeps the latest)${q ? `; ${fmtInt(v.total)} subscribed match “${q}”` : ''}; updated ${fmtClock(Date.now())}.`;
      markRendered('frameworks');
    }, 2000);
    // Shares, task counts and offer counters change with tasks and offers.
    ctx.listen((type) => {
      if (type.startsWith('FRAMEWORK_') || type.startsWith('TASK_') || type.startsWith('OFFER_') || type === 'SUBSCRIBED') refresh.schedule();
    });
    refresh.schedule();
  });

  route(/^\/frameworks\/([^/]+)$/, 'frameworks', (id) => `Framework ${shortId(id)}`, (ctx, main, params, id) => {
    const about = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const usage = h('div');
    const offersBox = h('div');
    main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/frameworks' }, 'Frameworks'), ' / ', shortId(id)),
      h('h1', null, 'Framework ', h('span', { class: 'mono' }, shortId(id))),
      h('div', { class: 'grid two' }, panel('About', about), panel('Resources and offers', usage)),
      panel('Outstanding offers', offersBox),
      panel('Tasks', tasksTable(ctx, { framework: id }, { fixed: ['framework'], limit: 25, label: 'Framework tasks' })));
    function draw(f) {
      main.querySelector('h1').replaceChildren('Framework ', f.name || shortId(id));
      swap(about, facts([
        ['Id', h('span', { class: 'mono' }, f.id)], ['Name', f.name], ['Status', frameworkStatus(f)],
        ['User', f.user || '—'], ['Principal', f.principal || '—'], ['Hostname', f.hostname || '—'],
        ['Roles', rolesOf(f)], ['Failover timeout', fmtDuration(f.failover_timeout)],
        ['Registered', timeEl(f.registered_time)], ['Re-registered', timeEl(f.reregistered_time)],
        f.unregistered_time ? ['Disconnected', timeEl(f.unregistered_time)] : null,
        ['Web UI', f.webui_url ? h('a', { href: f.webui_url, rel: 'noopener noreferrer' }, f.webui_url) : '—'],
      ]));
      swap(usage, facts([
        ['DRF share', shareBar(f.share)], ['Active tasks', fmtInt(f.tasks)], ['Completed tasks kept', fmtInt(f.completed_tasks)],
        ['Used', fmtResources(f.used)], ['Offered', fmtResources(f.offered)],
        ['Offers', `${fmtInt(f.offers.received)} received, ${fmtInt(f.offers.accepted)} accepted, ${fmtInt(f.offers.declined)} declined, ${fmtInt(f.offers.rescinded)} rescinded`],
      ]));
    }
    const refresh = ctx.refresher(async () => {
      const v = await ctx.api(`/api/v1/ui/frameworks${query({ id, limit: 1 })}`);
      if (v.items[0]) {
        draw(v.items[0]);
      } else {
        const c = (await ctx.api(`/api/v1/ui/frameworks${query({ id, state: 'completed', limit: 1 })}`)).items[0];
        swap(about, c ? facts([['Id', h('span', { class: 'mono' }, id)], ['Name', c.name], ['Status', h('span', { class: 'badge muted' }, 'removed')],
          ['Removed', timeEl(c.removed_time)], ['Tasks', fmtInt(c.tasks)]]) : errorEl(`framework ${id} is not known to the master`));
        swap(usage);
      }
      markRendered('framework');
    }, 2000);
    const offersRefresh = ctx.refresher(async () => {
      const v = await ctx.api(`/api/v1/ui/offers${query({ framework: id, limit: 50 })}`);
      swap(offersBox, table('Outstanding offers', ['Offer', 'Agent', 'Role', 'Resources', ['Age', 'num'], ['Expires in', 'num']],
        v.items.map((o) => h('tr', null, h('td', { class: 'id' }, idEl(o.id)), h('td', null, agentLink(o.agent_id, o.hostname)),
          h('td', null, o.role), h('td', null, fmtResources(o.resources)), h('td', { class: 'num' }, fmtDuration(o.age_secs)),
          h('td', { class: 'num' }, o.expires_in_secs == null ? 'never' : fmtDuration(o.expires_in_secs)))),
        'No outstanding offers.'), v.total > 50 ? h('p', { class: 'status-line' }, `showing the newest 50 of ${fmtInt(v.total)}`) : null);
    }, 1500);
    ctx.listen((type) => {
      if (type.startsWith('FRAMEWORK_') || type.startsWith('TASK_') || type.startsWith('OFFER_') || type === 'SUBSCRIBED') refresh.schedule();
      if (type.startsWith('OFFER_')) offersRefresh.schedule();
    });
    refresh.schedule();
    offersRefresh.schedule();
  });

  // --- roles ---

  // Roles drawn in the share chart: the first of the page, one colour each.
  const ROLE_COLOURS = 8;

  // Each role's DRF share over the master's sampled history, one line per
  // role; the last sample holds until now.
  function drawRoleChart(box, legend, v) {
    const w = Math.max(320, box.clientWidth || 600);
    const H = 220;
    const pad = { l: 44, r: 10, t: 10, b: 24 };
    const now = Date.now();
    const t0 = now - CHART_WINDOW_MS;
    const roles = v.items.slice(0, ROLE_COLOURS);
    const samples = ((v.history || {}).samples || []).filter((p) => p.at * 1000 >= t0 - 60000);
    let top = 0;
    for (const p of samples) for (const r of roles) top = Math.max(top, num(p.shares[r.role]));
    for (const r of roles) top = Math.max(top, num(r.share));
    // A round scale: 5% steps up to 100%, whole steps above (weights below 1).
    top = top <= 1 ? Math.max(0.05, Math.ceil(top * 20) / 20) : Math.ceil(top);
    const x = (t) => pad.l + ((Math.max(t, t0) - t0) / CHART_WINDOW_MS) * (w - pad.l - pad.r);
    const y = (f) => pad.t + (1 - Math.max(0, Math.min(1, f / top))) * (H - pad.t - pad.b);
    const desc = roles.length
      ? `Now: ${roles.map((r) => `${r.role} ${nf.format(num(r.share) * 100)}%`).join(', ')}.`
      : 'No roles.';
    const svg = s('svg', { viewBox: `0 0 ${w} ${H}`, role: 'img', 'aria-labelledby': 'roles-chart-title roles-chart-desc' },
      s('title', { id: 'roles-chart-title' }, 'DRF share by role over the last 10 minutes'),
      s('desc', { id: 'roles-chart-desc' }, desc));
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      svg.append(s('line', { class: 'grid-line', x1: pad.l, x2: w - pad.r, y1: y(f * top), y2: y(f * top) }),
        s('text', { class: 'axis-label', x: pad.l - 6, y: y(f * top) + 4, 'text-anchor': 'end' }, `${nf.format(f * top * 100)}%`));
    }
    for (let m = 10; m >= 0; m -= 2) {
      svg.append(s('text', { class: 'axis-label', x: x(now - m * 60000), y: H - 6, 'text-anchor': 'middle' },
        m === 0 ? 'now' : `-${m}m`));
    }
    roles.forEach((r, i) => {
      const pts = samples.filter((p) => r.role in p.shares).map((p) => [p.at * 1000, num(p.shares[r.role])]);
      pts.push([now, num(r.share)]);
      let d = `M${x(pts[0][0])},${y(pts[0][1])}`;
      for (let k = 1; k < pts.length; k++) d += `H${x(pts[k][0])}V${y(pts[k][1])}`;
      svg.append(s('path', { class: `series role-${i}`, d, 'data-role': r.role }));
    });
    box.replaceChildren(svg);
    legend.replaceChildren(...roles.map((r, i) => h('li', { class: `role-${i}` }, r.role)));
  }

  function quotaText(res) {
    return res ? fmtResources(res) : '—';
  }

  route(/^\/roles$/, 'roles', 'Roles', (ctx, main, params) => {
    let q = params.get('q') || '';
    let offset = Number(params.get('offset')) || 0;
    const LIMIT = 25;
    const box = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const status = h('p', { class: 'status-line', role: 'status' });
    const chartBox = h('div', { class: 'chart-box' });
    const legend = h('ul', { class: 'legend', 'aria-label': 'Roles in the chart' });
    const starving = h('div');
    const search = h('input', {
      type: 'search', id: 'roles-q', value: q, placeholder: 'role name', autocomplete: 'off',
      oninput: debounce(() => {
        q = search.value.trim();
        offset = 0;
        setParams({ q, offset: '' });
        refresh.schedule();
      }, 300),
    });
    main.append(h('h1', null, 'Roles'),
      h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => e.preventDefault() },
        h('label', { for: 'roles-q' }, 'Search roles', search)),
      status,
      panel('Weights, quota and shares', box,
        h('p', { class: 'status-line' }, 'Consumed is what counts against the quota (allocations and unallocated reservations, this role and below it); allocated is what its tasks use plus what is offered in it. The DRF share is the dominant share divided by the weight.')),
      h('div', { class: 'grid two' },
        panel('DRF share by role, last 10 minutes',
          h('figure', { class: 'chart' }, chartBox, h('figcaption', null, legend))),
        panel('Frameworks waiting longest for offers', starving)));

    let last = null;
    function draw(v) {
      last = v;
      swap(box, table('Roles', ['Role', ['Weight', 'num'], 'DRF share', 'Quota guarantee', 'Quota limit', 'Consumed',
        'Allocated (used + offered)', ['Frameworks', 'num'], ['Tasks', 'num'], ['Starving for', 'num']],
      v.items.map((r) => h('tr', { 'data-role': r.role, 'data-testid': `role-${r.role}` },
        h('th', { scope: 'row' }, r.role),
        h('td', { class: 'num', 'data-testid': `weight-${r.role}` }, fmtNum(r.weight)),
        h('td', null, shareBar(r.share)),
        h('td', null, quotaText(r.quota && r.quota.guarantee)),
        h('td', null, quotaText(r.quota && r.quota.limit)),
        h('td', null, fmtResources(r.consumed)),
        h('td', null, fmtResources(r.allocated)),
        h('td', { class: 'num' }, fmtInt(r.frameworks)),
        h('td', { class: 'num', 'data-testid': `tasks-${r.role}` }, fmtInt(r.tasks)),
        h('td', { class: 'num', title: 'how long frameworks in this role have wanted offers without getting any' },
          r.starving_secs == null ? '—' : fmtDuration(r.starving_secs)))),
      q ? `No role matches “${q}”.` : 'No roles yet: frameworks, weights and quota create them.'),
      v.total > LIMIT ? pager(v.total, offset, LIMIT, (o) => {
        offset = o;
        setParams({ q, offset: o || '' });
        refresh.schedule();
      }, 'Roles') : null);
      const st = v.starving_frameworks || { items: [], total: 0 };
      swap(starving, table('Frameworks by time without offers', ['Framework', 'Roles', 'DRF share', ['Waiting for', 'num']],
        st.items.map((f) => h('tr', null, h('td', null, frameworkLink(f.id, f.name)), h('td', null, (f.roles || []).join(', ')),
          h('td', null, shareBar(f.share)), h('td', { class: 'num' }, fmtDuration(f.starving_secs)))),
        'No framework is waiting for offers.'),
      st.total > st.items.length ? h('p', { class: 'status-line' }, `the ${fmtInt(st.items.length)} longest of ${fmtInt(st.total)}`) : null);
      drawRoleChart(chartBox, legend, v);
      status.textContent = `${fmtInt(v.total)} role${v.total === 1 ? '' : 's'}${q ? ` matching “${q}”` : ''}; shares sampled every ${fmtDuration((v.history || {}).every_secs)}; updated ${fmtClock(Date.now())}.`;
    }

    const refresh = ctx.refresher(async () => {
      draw(await ctx.api(`/api/v1/ui/roles${query({ q, offset, limit: LIMIT })}`));
      markRendered('roles');
    }, 2000);
    ctx.listen((type) => {
      if (type.startsWith('FRAMEWORK_') || type === 'TASK_ADDED' || type === 'TASK_UPDATED' || type === 'OFFER_ACCEPTED' || type === 'SUBSCRIBED') refresh.schedule();
    });
    // Starvation grows and shares are sampled with time alone.
    ctx.every(5000, () => refresh.schedule());
    const onResize = debounce(() => last && drawRoleChart(chartBox, legend, last), 200);
    window.addEventListener('resize', onResize);
    ctx.onCleanup(() => window.removeEventListener('resize', onResize));
    refresh.schedule();
  });

  // --- tasks ---

  // A filterable, paged task table that re-fetches its page on task events.
  // `fixed` names filters set by the page (an agent's or a framework's tasks).
  function tasksTable(ctx, initial, opts) {
    const f = {
      q: initial.q || '', state: initial.state || '', framework: initial.framework || '', agent: initial.agent || '',
    };
    let offset = Number(initial.offset) || 0;
    let limit = Number(initial.limit || opts.limit) || 50;
    const fixed = new Set(opts.fixed || []);
    const uid = opts.label.replace(/\W+/g, '-').toLowerCase();
    const box = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const status = h('p', { class: 'status-line', role: 'status' });
    const seenStates = new Map();
    let firstDraw = true;

    function keep() {
      if (opts.syncUrl) setParams({ ...f, offset: offset || '', limit: limit === 50 ? '' : limit });
    }
    const changed = () => {
      offset = 0;
      keep();
      refresh.schedule();
    };
    const search = h('input', {
      type: 'search', id: `${uid}-q`, value: f.q, placeholder: 'task id or name', autocomplete: 'off',
      oninput: debounce(() => {
        f.q = search.value.trim();
        changed();
      }, 300),
    });
    const stateSel = h('select', {
      id: `${uid}-state`, onchange: () => {
        f.state = stateSel.value;
        changed();
      },
    }, h('option', { value: '' }, 'any'), TASK_STATES.map((st) => h('option', { value: st, selected: st === f.state }, st.replace(/^TASK_/, ''))));
    const fwSel = h('select', {
      id: `${uid}-fw`, onchange: () => {
        f.framework = fwSel.value;
        changed();
      },
    });
    function fillFrameworks() {
      const ov = live.overview || {};
      const all = [...(ov.frameworks || []), ...(ov.completed_frameworks || [])];
      const opts_ = [h('option', { value: '' }, 'any')];
      for (const x of all) opts_.push(h('option', { value: x.id, selected: x.id === f.framework }, x.name || x.id));
      if (f.framework && !all.some((x) => x.id === f.framework)) {
        opts_.push(h('option', { value: f.framework, selected: true }, shortId(f.framework)));
      }
      fwSel.replaceChildren(...opts_);
    }
    fillFrameworks();
    const agentIn = h('input', {
      type: 'text', id: `${uid}-agent`, value: f.agent, placeholder: 'agent id', autocomplete: 'off',
      oninput: debounce(() => {
        f.agent = agentIn.value.trim();
        changed();
      }, 400),
    });
    const sizeSel = h('select', {
      id: `${uid}-size`, onchange: () => {
        limit = Number(sizeSel.value);
        changed();
      },
    }, [25, 50, 100, 200].map((n) => h('option', { value: n, selected: n === limit }, String(n))));

    const tools = h('form', { class: 'toolbar', role: 'search', 'aria-label': `${opts.label} filters`, onsubmit: (e) => e.preventDefault() },
      h('label', { for: `${uid}-q` }, 'Search', search),
      h('label', { for: `${uid}-state` }, 'State', stateSel),
      fixed.has('framework') ? null : h('label', { for: `${uid}-fw` }, 'Framework', fwSel),
      fixed.has('agent') ? null : h('label', { for: `${uid}-agent` }, 'Agent', agentIn),
      h('label', { for: `${uid}-size` }, 'Per page', sizeSel));

    const refresh = ctx.refresher(async () => {
      const v = await ctx.api(`/api/v1/ui/tasks${query({ ...f, offset, limit })}`);
      if (v.total && offset >= v.total) {
        offset = Math.max(0, Math.floor((v.total - 1) / limit) * limit);
        refresh.schedule();
      }
      const rows = v.items.map((t) => {
        const key = `${t.framework_id}/${t.id}`;
        const prev = seenStates.get(key);
        seenStates.set(key, t.state);
        const last = (t.statuses || [])[t.statuses.length - 1];
        return h('tr', { class: !firstDraw && prev !== t.state ? 'fresh' : null, 'data-task': t.id, 'data-state': t.state },
          h('td', { class: 'id' }, h('a', { href: `#/tasks/${enc(t.framework_id)}/${enc(t.id)}`, 'data-key': `t-${key}` }, t.id),
            t.name && t.name !== t.id ? h('div', null, t.name) : null),
          h('td', null, stateBadge(t.state)),
          fixed.has('framework') ? null : h('td', null, frameworkLink(t.framework_id, t.framework_name)),
          fixed.has('agent') ? null : h('td', null, agentLink(t.agent_id, t.agent_hostname)),
          h('td', { class: 'num' }, fmtNum((t.resources || {}).cpus)),
          h('td', { class: 'num' }, fmtMB((t.resources || {}).mem)),
          h('td', null, last ? agoEl(last.timestamp) : '—'));
      });
      if (seenStates.size > 5000) seenStates.clear();
      firstDraw = false;
      const anyFilter = f.q || (!fixed.has('state') && f.state) || (!fixed.has('framework') && f.framework) || (!fixed.has('agent') && f.agent);
      swap(box,
        table(opts.label, ['Task', 'State', fixed.has('framework') ? null : 'Framework', fixed.has('agent') ? null : 'Agent',
          ['CPUs', 'num'], ['Memory', 'num'], 'Last update'].filter(Boolean), rows,
        anyFilter ? 'No task matches these filters.' : 'No tasks yet.'),
        pager(v.total, offset, limit, (o) => {
          offset = o;
          keep();
          refresh.schedule();
        }, opts.label));
      status.textContent = `${fmtInt(v.total)} task${v.total === 1 ? '' : 's'}; updated ${fmtClock(Date.now())}.`;
      if (opts.onRendered) opts.onRendered();
    }, 1000);

    ctx.listen((type) => {
      if (type.startsWith('TASK_') || type === 'FRAMEWORK_REMOVED' || type === 'AGENT_REMOVED' || type === 'SUBSCRIBED') refresh.schedule();
      if (type === 'FRAMEWORK_ADDED' || type === 'FRAMEWORK_REMOVED' || type === 'SUBSCRIBED') fillFrameworks();
    });
    refresh.schedule();
    return h('div', null, tools, status, box);
  }

  route(/^\/tasks$/, 'tasks', 'Tasks', (ctx, main, params) => {
    const initial = Object.fromEntries(params.entries());
    main.append(h('h1', null, 'Tasks'),
      tasksTable(ctx, initial, { label: 'Tasks', syncUrl: true, onRendered: () => markRendered('tasks') }));
  });

  route(/^\/tasks\/([^/]+)\/(.+)$/, 'tasks', (fw, task) => `Task ${task}`, (ctx, main, params, fw, task) => {
    const about = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const history = h('div');
    const sandbox = h('div', null, h('p', { class: 'loading' }, 'Looking for the sandbox…'));
    let t = null;
    let sandboxShown = false;
    main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/tasks' }, 'Tasks'), ' / ', task),
      h('h1', null, 'Task ', h('span', { class: 'mono' }, task)),
      h('div', { class: 'grid two' }, panel('About', about), panel('Status history', history)),
      panel('Sandbox', sandbox));
    const finished = () => !!t && TERMINAL.has(t.state);

    const refresh = ctx.refresher(async () => {
      try {
        t = await ctx.api(`/api/v1/ui/tasks/${enc(fw)}/${enc(task)}`);
      } catch (e) {
        if (e.name !== 'AbortError') swap(about, errorEl(e));
        return;
      }
      const ls = t.last_status || {};
      const labels = (t.labels || []).map((l) => `${l.key}=${l.value || ''}`).join(', ');
      swap(about, facts([
        ['Id', h('span', { class: 'mono' }, t.id)], ['Name', t.name || '—'],
        ['State', h('span', { 'data-testid': 'task-state' }, stateBadge(t.state))],
        ['Framework', frameworkLink(t.framework_id, t.framework_name)],
        ['Agent', agentLink(t.agent_id)],
        ['Executor', t.executor_id ? h('span', { class: 'mono' }, t.executor_id) : 'command executor'],
        ['Resources', fmtResources(t.resources)],
        t.healthy != null ? ['Healthy', t.healthy ? 'yes' : 'no'] : null,
        labels ? ['Labels', labels] : null,
        ls.message ? ['Last message', ls.message] : null,
        ls.reason ? ['Reason', ls.reason] : null,
        ls.source ? ['Source', ls.source] : null,
        t.info && t.info.command ? ['Command', h('code', null, commandLine(t.info.command))] : null,
        t.container ? ['Container', h('code', null, JSON.stringify(t.container))] : null,
      ]));
      const st = t.statuses || [];
      history.dataset.testid = 'task-history';
      swap(history, table('Status history', ['State', 'Time', ['After', 'num']],
        st.map((x, i) => h('tr', null, h('td', null, stateBadge(x.state)), h('td', null, timeEl(x.timestamp)),
          h('td', { class: 'num' }, i ? `+${nf.format(x.timestamp - st[i - 1].timestamp)}s` : '—'))),
        'No status yet.'));
      if (!sandboxShown) findAndShowSandbox();
      markRendered('task');
    }, 500);

    async function findAndShowSandbox() {
      if (!t || sandboxShown) return;
      let state;
      try {
        state = await ctx.api(`/api/v1/ui/agents/${enc(t.agent_id)}/state`);
      } catch (e) {
        if (e.name !== 'AbortError') swap(sandbox, errorEl(e));
        return;
      }
      const found = findSandbox(state, t.framework_id, t.id, t.executor_id);
      if (!found) {
        swap(sandbox, h('p', { class: 'empty' }, finished()
          ? 'The agent no longer knows this task\u2019s executor; its sandbox may have been removed.'
          : 'The agent has not started this task\u2019s executor yet.'));
        return;
      }
      sandboxShown = true;
      swap(sandbox, sandboxView(ctx, t.agent_id, found.directory, finished));
    }

    ctx.listen((type, body) => {
      if (type === 'TASK_UPDATED') {
        const id = body.status && body.status.task_id && body.status.task_id.value;
        if (id === task) refresh.schedule();
      } else if (type === 'TASK_ADDED' || type === 'FRAMEWORK_REMOVED' || type === 'SUBSCRIBED') {
        refresh.schedule();
      }
    });
    refresh.schedule();
  });

  // === start ===========================================================================

  window.strataUi = { metrics, live };
  window.addEventListener('hashchange', render);
  function start() {
    connect();
    render();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
