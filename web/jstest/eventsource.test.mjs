// Tests of HubEventSource against a scripted HTTP server on loopback: each
// test's server answers the n-th request as the behaviour under test needs.
// The real hub and a real browser are in web/hubeventsource_browser_test.go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { HubEventSource, EventTooLargeError, mercureURL, mercureLinks } from '../static/ssehub.js';

// serve starts a server whose handler gets (req, res, n, body) for the
// n-th request (from 0); it records every request.
async function serve(t, handler) {
  const requests = [];
  const sockets = new Set();
  const srv = createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    const n = requests.length;
    requests.push({ method: req.method, url: req.url, headers: req.headers, body, at: Date.now(), closed: false });
    res.on('close', () => { requests[n].closed = true; });
    handler(req, res, n, body);
  });
  srv.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => { for (const s of sockets) s.destroy(); srv.close(); });
  return { url: `http://127.0.0.1:${srv.address().port}/hub`, requests };
}

function stream(res, text, end = true) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  res.write(text);
  if (end) res.end();
}

// until resolves when cond() holds, polling, or rejects after ms.
async function until(cond, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// settle resolves when cond() holds, polling between turns of the event
// loop without timers, so it works while setTimeout is mocked; it rejects
// after ms of wall-clock time, as until does.
async function settle(cond, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setImmediate(r));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function collect(es, ...types) {
  const got = [];
  for (const type of types) es.addEventListener(type, (e) => got.push({ type: e.type, data: e.data, id: e.lastEventId, reason: e.reason, status: e.status }));
  return got;
}

test('EventSource behaviour: open, messages, named events, retry and Last-Event-ID on reconnection', async (t) => {
  const s = await serve(t, (req, res, n) => {
    if (n === 0) return stream(res, 'retry: 20\nid: 1\ndata: a\ndata: b\n\nevent: note\ndata: n\n\n');
    return stream(res, 'id: 2\ndata: c\n\n', false);
  });
  const es = new HubEventSource(s.url, { match: ['https://example.com/a', 'https://example.com/b'], matchURLPattern: '/books/:id' });
  t.after(() => es.close());
  assert.equal(es.readyState, HubEventSource.CONNECTING);
  assert.equal(es.withCredentials, false);
  assert.throws(() => { 'use strict'; es.withCredentials = true; }, TypeError, 'withCredentials is read-only, as EventSource\'s');
  assert.equal(es.url, s.url + '?match=https%3A%2F%2Fexample.com%2Fa&match=https%3A%2F%2Fexample.com%2Fb&match_urlpattern=%2Fbooks%2F%3Aid');
  const log = [];
  es.onopen = () => log.push('open ' + es.readyState);
  es.onmessage = (e) => log.push(`message ${e.lastEventId} ${e.data}`);
  es.onerror = () => log.push('error ' + es.readyState);
  es.addEventListener('note', (e) => log.push(`note ${e.lastEventId} ${e.data}`));
  await until(() => log.includes('message 2 c'), 'second connection');
  assert.deepEqual(log, ['open 1', 'message 1 a\nb', 'note 1 n', 'error 0', 'open 1', 'message 2 c']);
  assert.equal(s.requests[0].headers['last-event-id'], undefined);
  assert.equal(s.requests[0].headers.accept, 'text/event-stream');
  assert.equal(s.requests[1].headers['last-event-id'], '1');
  assert.equal(es.lastEventId, '2');
  // The stream's retry (20 ms) set the wait, with jitter of at most half.
  const gap = s.requests[1].at - s.requests[0].at;
  assert.ok(gap >= 15 && gap < 1000, `reconnected after ${gap} ms`);
});

test('headers and a bearer token are sent; lastEventId starts the stream', async (t) => {
  const s = await serve(t, (req, res) => stream(res, 'data: x\n\n', false));
  const es = new HubEventSource(s.url, { headers: { 'X-Trace': 't1' }, token: 'tok', lastEventId: 'urn:uuid:7', topic: 'a' });
  t.after(() => es.close());
  const got = collect(es, 'message');
  await until(() => got.length === 1, 'message');
  const h = s.requests[0].headers;
  assert.equal(h.authorization, 'Bearer tok');
  assert.equal(h['x-trace'], 't1');
  assert.equal(h['last-event-id'], 'urn:uuid:7');
  assert.equal(s.requests[0].url, '/hub?topic=a');
  assert.equal(got[0].id, 'urn:uuid:7');
});

test('a token function is called again on 401 invalid_token and the stream continues from its last ID', async (t) => {
  // The token cached for the reconnection has expired by then: refreshed
  // once, with the position kept.
  const s2 = await serve(t, (req, res, n) => {
    if (n === 0) return stream(res, 'id: 5\ndata: first\n\n');
    if (req.headers.authorization === 'Bearer t1') {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
      return res.end();
    }
    return stream(res, 'id: 6\ndata: second\n\n', false);
  });
  const calls2 = [];
  let k = 0;
  const es2 = new HubEventSource(s2.url, { retry: 10, token: (why) => { calls2.push(why); return 't' + ++k; } });
  t.after(() => es2.close());
  const got2 = collect(es2, 'message');
  await until(() => got2.some((e) => e.data === 'second'), 'second after refresh');
  assert.deepEqual(calls2, ['initial', 'invalid_token']);
  assert.deepEqual(s2.requests.map((r) => [r.headers.authorization, r.headers['last-event-id']]),
    [['Bearer t1', undefined], ['Bearer t1', '5'], ['Bearer t2', '5']]);
});

test('a token function that fails is tried again with the backoff', async (t) => {
  const s = await serve(t, (req, res) => stream(res, 'data: x\n\n', false));
  let calls = 0;
  const es = new HubEventSource(s.url, { retry: 10, token: async () => {
    if (++calls < 3) throw new Error('token endpoint down');
    return 'late';
  } });
  t.after(() => es.close());
  const got = collect(es, 'error', 'message');
  await until(() => got.some((e) => e.type === 'message'), 'message');
  assert.deepEqual(got.map((e) => [e.type, e.reason]), [['error', 'token'], ['error', 'token'], ['message', undefined]]);
  assert.equal(s.requests.length, 1);
  assert.equal(s.requests[0].headers.authorization, 'Bearer late');
});

test('a 401 that is not invalid_token, or one after a refresh, fails the connection', async (t) => {
  const s = await serve(t, (req, res) => {
    res.writeHead(401, { 'WWW-Authenticate': req.headers.authorization ? 'Bearer error="invalid_token"' : 'Bearer' });
    res.end();
  });
  let calls = 0;
  const es = new HubEventSource(s.url, { retry: 10, token: () => (++calls === 1 ? '' : 'still-bad') });
  const got = collect(es, 'error');
  await until(() => es.readyState === HubEventSource.CLOSED, 'closed');
  await sleep(50);
  assert.equal(s.requests.length, 1);
  assert.deepEqual(got.map((e) => [e.reason, e.status]), [['status', 401]]);

  const es2 = new HubEventSource(s.url, { retry: 10, token: () => 'bad' });
  await until(() => es2.readyState === HubEventSource.CLOSED, 'closed');
  await sleep(50);
  assert.equal(s.requests.length, 3, 'one refresh, then no more');
});

test('204, another status, or a wrong content type fail the connection: no reconnection', async (t) => {
  for (const [answer, reason, status] of [
    [(res) => { res.writeHead(204); res.end(); }, 'status', 204],
    [(res) => { res.writeHead(500); res.end(); }, 'status', 500],
    [(res) => { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end('data: x\n\n'); }, 'content-type', 200],
  ]) {
    const s = await serve(t, (req, res) => answer(res));
    const es = new HubEventSource(s.url, { retry: 10 });
    const got = collect(es, 'error', 'message');
    await until(() => es.readyState === HubEventSource.CLOSED, 'closed');
    await sleep(50);
    assert.equal(s.requests.length, 1);
    assert.deepEqual(got.map((e) => [e.type, e.reason, e.status]), [['error', reason, status]]);
  }
  // The content type may carry parameters and any case.
  const s = await serve(t, (req, res) => { res.writeHead(200, { 'Content-Type': 'Text/Event-Stream; charset=utf-8' }); res.write('data: ok\n\n'); });
  const es = new HubEventSource(s.url);
  t.after(() => es.close());
  const got = collect(es, 'message');
  await until(() => got.length === 1, 'message');
});

test('a method that is not idempotent is never sent again', async (t) => {
  const s = await serve(t, (req, res) => stream(res, 'id: 1\ndata: answer\n\n'));
  const es = new HubEventSource(s.url, { method: 'POST', body: '{"prompt":"hi"}', headers: { 'Content-Type': 'application/json' }, retry: 10 });
  const got = collect(es, 'message', 'error');
  await until(() => es.readyState === HubEventSource.CLOSED, 'closed');
  await sleep(60);
  assert.equal(s.requests.length, 1);
  assert.equal(s.requests[0].method, 'POST');
  assert.equal(s.requests[0].body, '{"prompt":"hi"}');
  assert.deepEqual(got.map((e) => [e.type, e.reason]), [['message', undefined], ['error', 'method']]);

  // Nor after a network error, nor a 503.
  const s2 = await serve(t, (req, res) => { res.writeHead(503, { 'Retry-After': '0' }); res.end(); });
  const es2 = new HubEventSource(s2.url, { method: 'PATCH', body: 'x', retry: 10 });
  await until(() => es2.readyState === HubEventSource.CLOSED, 'closed');
  await sleep(60);
  assert.equal(s2.requests.length, 1);
});

test('QUERY carries the matchers in a form body, and is sent again', async (t) => {
  const s = await serve(t, (req, res, n) => stream(res, `id: ${n}\ndata: q\n\n`, n === 0));
  const es = new HubEventSource(s.url, { method: 'query', match: 'https://example.com/a', body: new URLSearchParams({ extra: '1' }), retry: 10 });
  t.after(() => es.close());
  const got = collect(es, 'message');
  await until(() => got.length >= 2, 'two connections');
  assert.equal(es.url, s.url);
  for (const r of s.requests.slice(0, 2)) {
    assert.equal(r.method, 'QUERY');
    assert.equal(r.url, '/hub');
    assert.equal(r.body, 'extra=1&match=https%3A%2F%2Fexample.com%2Fa');
  }
});

test('Retry-After on 429 and 503 is honoured', async (t) => {
  for (const status of [429, 503]) {
    const s = await serve(t, (req, res, n) => {
      if (n === 0) {
        res.writeHead(status, { 'Retry-After': '1' });
        return res.end();
      }
      stream(res, 'data: x\n\n', false);
    });
    const es = new HubEventSource(s.url, { retry: 10 });
    t.after(() => es.close());
    const got = collect(es, 'message', 'error');
    await until(() => got.some((e) => e.type === 'message'), 'message', 4000);
    const gap = s.requests[1].at - s.requests[0].at;
    assert.ok(gap >= 990, `${status}: reconnected after ${gap} ms, Retry-After asked 1 s`);
    assert.deepEqual(got[0], { type: 'error', data: undefined, id: undefined, reason: 'status', status });
  }
});

test('backoff doubles on consecutive failures, is capped, and resets after an open', async (t) => {
  // The waits are read off the client's timers, not the wall clock, so a
  // loaded machine cannot stretch them: the client's setTimeout calls are
  // held here and fired by the test, everyone else's run as usual (the I/O
  // is real), and Math.random is fixed per wait.
  const held = [];
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  const byClient = () => /\/static\/ssehub\.js:/.test(new Error().stack);
  t.mock.method(globalThis, 'setTimeout', (fn, ms, ...args) => {
    if (!byClient()) return realSetTimeout(fn, ms, ...args);
    const h = { fn, ms, cleared: false };
    held.push(h);
    return h;
  });
  t.mock.method(globalThis, 'clearTimeout', (h) => {
    if (held.includes(h)) h.cleared = true;
    else realClearTimeout(h);
  });
  let r = 0;
  t.mock.method(Math, 'random', () => r);

  let up = false;
  const s = await serve(t, (req, res) => {
    if (!up) {
      res.writeHead(503);
      return res.end();
    }
    stream(res, 'data: x\n\n'); // opens, then ends
  });
  let fetches = 0;
  const es = new HubEventSource(s.url, {
    retry: 20,
    maxRetry: 300,
    fetch: (...a) => { fetches++; return fetch(...a); },
  });
  t.after(() => es.close());
  const errors = collect(es, 'error');
  // The jitter, Math.random() * d / 2, alternates between none and a
  // quarter of d; the error handler runs before the client draws it.
  es.addEventListener('error', () => { r = errors.length % 2 ? 0 : 0.5; });

  // waits checks that after its n-th error the client set one timer, of
  // want ms, to reconnect, and fires it after calling before.
  const waits = async (n, want, what, before = () => {}) => {
    await settle(() => errors.length === n, `error ${n}`);
    assert.equal(held.length, n, `${what}: timers set`);
    assert.equal(fetches, n, `${what}: requests before the wait ended`);
    const h = held[n - 1];
    assert.equal(h.ms, want, `${what}: wait`);
    assert.ok(!h.cleared, `${what}: wait cleared`);
    before();
    h.fn();
    assert.equal(fetches, n + 1, `${what}: no request when the wait ended`);
  };
  // Waits of 20, 40, 80, 160, 300, 300 ms (doubling from retry, capped
  // at maxRetry; uncapped the last two would be 320 and 640), plus the
  // jitter.
  const base = [20, 40, 80, 160, 300, 300];
  for (const [i, d] of base.entries()) {
    const last = i === base.length - 1;
    await waits(i + 1, d + (i % 2 ? d / 4 : 0), `failure ${i + 1}`, () => { up = last; });
  }
  // That request opens, and its stream ends: the wait starts again from
  // the reconnection time (the 7th error draws no jitter), not from the
  // cap.
  await settle(() => errors.length === base.length + 1, 'the opened stream ending');
  assert.equal(errors.at(-1).reason, 'ended');
  await waits(base.length + 1, 20, 'after an open');
});

test('close() aborts the request and stops every later one', async (t) => {
  const s = await serve(t, (req, res) => stream(res, 'data: x\n\n', false));
  const es = new HubEventSource(s.url, { retry: 10 });
  const got = collect(es, 'message', 'error');
  await until(() => got.length === 1, 'message');
  es.close();
  assert.equal(es.readyState, HubEventSource.CLOSED);
  await until(() => s.requests[0].closed, 'request aborted');
  await sleep(60);
  assert.equal(s.requests.length, 1);
  assert.deepEqual(got.map((e) => e.type), ['message']);

  // Closed while waiting to reconnect: no request.
  const s2 = await serve(t, (req, res) => stream(res, 'data: x\n\n'));
  const es2 = new HubEventSource(s2.url, { retry: 50 });
  es2.onerror = () => es2.close();
  await until(() => es2.readyState === HubEventSource.CLOSED, 'closed from onerror');
  await sleep(120);
  assert.equal(s2.requests.length, 1);
});

// withGlobals installs browser globals for one test.
async function withGlobals(t, globals) {
  const old = {};
  for (const [k, v] of Object.entries(globals)) {
    old[k] = Object.getOwnPropertyDescriptor(globalThis, k);
    Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
  }
  t.after(() => {
    for (const [k, d] of Object.entries(old)) {
      if (d) Object.defineProperty(globalThis, k, d);
      else delete globalThis[k];
    }
  });
}

class FakeStorage {
  #m = new Map();
  getItem(k) { return this.#m.has(k) ? this.#m.get(k) : null; }
  setItem(k, v) { this.#m.set(k, String(v)); }
}

test('persist keeps the last event ID in sessionStorage: a new source resumes after it', async (t) => {
  await withGlobals(t, { sessionStorage: new FakeStorage() });
  const s = await serve(t, (req, res, n) => stream(res, n === 0 ? 'id: 1\ndata: a\n\nid: 2\ndata: b\n\n' : 'id: 3\ndata: c\n\n', false));
  const es = new HubEventSource(s.url, { persist: true, topic: 't' });
  const got = collect(es, 'message');
  await until(() => got.length === 2, 'two messages');
  es.close(); // the page unloads
  const es2 = new HubEventSource(s.url, { persist: true, topic: 't' });
  t.after(() => es2.close());
  const got2 = collect(es2, 'message');
  await until(() => got2.length === 1, 'resumed');
  assert.equal(s.requests[1].headers['last-event-id'], '2');
  // Another subscription has its own key.
  const es3 = new HubEventSource(s.url, { persist: true, topic: 'other' });
  t.after(() => es3.close());
  await until(() => s.requests.length === 3, 'third request');
  assert.equal(s.requests[2].headers['last-event-id'], undefined);
});

test('no reconnection while the tab is hidden or the browser offline; one when it comes back', async (t) => {
  const document = new EventTarget();
  document.visibilityState = 'visible';
  const window = new EventTarget();
  const navigator = { onLine: true };
  await withGlobals(t, { document, window, navigator });
  const open = [];
  const s = await serve(t, (req, res) => { open.push(res); stream(res, 'data: x\n\n', false); });
  const es = new HubEventSource(s.url, { retry: 10, wakeJitter: 20 });
  t.after(() => es.close());
  await until(() => s.requests.length === 1, 'first request');
  // The stream stays open while hidden; it ends, and the tab is hidden.
  document.visibilityState = 'hidden';
  await sleep(30);
  assert.equal(es.readyState, HubEventSource.OPEN);
  open.pop().end();
  await sleep(150);
  assert.equal(s.requests.length, 1, 'no reconnection while hidden');
  assert.equal(es.readyState, HubEventSource.CONNECTING);
  document.visibilityState = 'visible';
  document.dispatchEvent(new Event('visibilitychange'));
  await until(() => s.requests.length === 2, 'reconnected when shown');

  navigator.onLine = false;
  open.pop().end();
  await sleep(150);
  const n = s.requests.length;
  assert.equal(n, 2, 'no reconnection while offline');
  navigator.onLine = true;
  window.dispatchEvent(new Event('online'));
  await until(() => s.requests.length > n, 'reconnected when online');
  es.close();
  // close() removed the listeners.
  const m = s.requests.length;
  window.dispatchEvent(new Event('online'));
  document.dispatchEvent(new Event('visibilitychange'));
  await sleep(100);
  assert.equal(s.requests.length, m);
});

test('pagehide drops the stream with no error; a persisted pageshow resumes it from the last event ID', async (t) => {
  const window = new EventTarget();
  await withGlobals(t, { window });
  const s = await serve(t, (req, res, n) => stream(res, n === 0 ? 'id: 1\ndata: a\n\nid: 2\ndata: b\n\n' : 'id: 3\ndata: c\n\n', false));
  const es = new HubEventSource(s.url, { retry: 10 });
  t.after(() => es.close());
  const got = collect(es, 'open', 'message', 'error');
  await until(() => got.length === 3, 'open and two messages');
  window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }));
  await until(() => s.requests[0].closed, 'request aborted on pagehide');
  assert.equal(es.readyState, HubEventSource.CONNECTING);
  // In the cache: no reconnection, and a pageshow that is not a restore
  // from it changes nothing.
  window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: false }));
  await sleep(100);
  assert.equal(s.requests.length, 1, 'no reconnection while in the cache');
  window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }));
  await until(() => got.length === 5, 'opened again and resumed');
  assert.equal(s.requests[1].headers['last-event-id'], '2');
  assert.deepEqual(got.map((e) => e.type + (e.data ?? '')), ['open', 'messagea', 'messageb', 'open', 'messagec']);

  // pauseOnPageHide: false keeps the stream.
  const s2 = await serve(t, (req, res) => stream(res, 'data: x\n\n', false));
  const es2 = new HubEventSource(s2.url, { pauseOnPageHide: false });
  t.after(() => es2.close());
  await until(() => es2.readyState === HubEventSource.OPEN, 'open');
  window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }));
  await sleep(100);
  assert.equal(s2.requests[0].closed, false);
  assert.equal(es2.readyState, HubEventSource.OPEN);
});

test('idleTimeout reconnects a stream that went silent', async (t) => {
  const s = await serve(t, (req, res, n) => stream(res, `id: ${n}\ndata: x\n\n`, false));
  const es = new HubEventSource(s.url, { retry: 10, idleTimeout: 100 });
  t.after(() => es.close());
  const got = collect(es, 'error');
  await until(() => s.requests.length >= 2, 'reconnected');
  assert.equal(got[0].reason, 'idle');
  assert.equal(s.requests[1].headers['last-event-id'], '0');
});

test('an event over maxEventSize fails the connection after the events before it; the request is aborted', async (t) => {
  // The oversized line arrives in a chunk of its own, and the stream stays
  // open: the source, not the server, ends it.
  const s = await serve(t, (req, res) => {
    stream(res, 'retry: 10\nid: 1\ndata: a\n\n', false);
    setTimeout(() => res.write('id: 2\ndata: ' + 'x'.repeat(32) + '\n\n'), 20);
  });
  const es = new HubEventSource(s.url, { maxEventSize: 16 });
  t.after(() => es.close());
  const got = collect(es, 'error', 'message');
  let err;
  es.addEventListener('error', (e) => { err = e.error; });
  await until(() => es.readyState === HubEventSource.CLOSED, 'closed');
  await until(() => s.requests[0].closed, 'request aborted');
  await sleep(50); // more than retry: no reconnection
  assert.equal(s.requests.length, 1);
  assert.deepEqual(got.map((e) => [e.type, e.data ?? e.reason]), [['message', 'a'], ['error', 'too-large']]);
  assert.ok(err instanceof EventTooLargeError);
  assert.equal(es.lastEventId, '1'); // the oversized event's ID was never taken
});

// Mercure 1.0 (draft-dunglas-mercure-08), "Subscription" and "Reconnection,
// State Reconciliation, and Event Sourcing": match= and match_urlpattern=,
// and the last event ID in a last_event_id query parameter, which a
// browser's EventSource must use as it can send no header on its first
// request; 0.x's topic= and lastEventID= on request.
test('mercureURL: 1.0 match, match_urlpattern and last_event_id; 0.x topic and lastEventID; never both', () => {
  const hub = 'https://hub.example/.well-known/mercure';
  assert.equal(mercureURL(hub, { match: ['https://example.com/a', '*'], matchURLPattern: 'https://example.com/books/:id', lastEventId: 'urn:uuid:1' }),
    hub + '?match=https%3A%2F%2Fexample.com%2Fa&match=*&match_urlpattern=https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid&last_event_id=urn%3Auuid%3A1');
  assert.equal(mercureURL(hub, { matchURLPattern: '/books/:id', lastEventId: 'earliest' }), hub + '?match_urlpattern=%2Fbooks%2F%3Aid&last_event_id=earliest');
  assert.equal(mercureURL(hub, { topic: 'https://example.com/books/{id}', lastEventId: 'earliest' }),
    hub + '?topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D&lastEventID=earliest');
  assert.equal(mercureURL(hub, { match: 'a', lastEventId: '' }), hub + '?match=a', 'an empty ID asks for nothing');
  assert.equal(mercureURL(hub + '?x=1', { match: 'a' }), hub + '?x=1&match=a', 'the hub URL keeps its own query');
  assert.throws(() => mercureURL(hub, { topic: 'a', match: 'b' }), TypeError);
  assert.throws(() => mercureURL(hub, { topic: 'a', matchURLPattern: '/b' }), TypeError);
  assert.throws(() => new HubEventSource(hub, { topic: 'a', match: 'b' }), TypeError, 'HubEventSource refuses the mix too');
});

test('mercureLastEventId is the hub\'s Mercure-Last-Event-ID (1.0) or Last-Event-ID (0.x) of the current response', async (t) => {
  const s = await serve(t, (req, res, n) => {
    const h = { 'Content-Type': 'text/event-stream' };
    if (n === 0) h['Mercure-Last-Event-ID'] = 'earliest';
    if (n === 1) h['Last-Event-ID'] = 'urn:uuid:0x';
    res.writeHead(200, h);
    res.end(`id: ${n + 1}\ndata: d\n\n`);
  });
  const es = new HubEventSource(s.url, { match: 'a', lastEventId: 'gone', retry: 10 });
  t.after(() => es.close());
  const seen = [];
  es.onopen = () => seen.push(es.mercureLastEventId);
  await until(() => seen.length >= 3, 'three connections');
  es.close();
  assert.deepEqual(seen.slice(0, 3), ['earliest', 'urn:uuid:0x', '']);
  assert.equal(s.requests[0].headers['last-event-id'], 'gone');
  assert.equal(s.requests[1].headers['last-event-id'], '1');
});

// Mercure 1.0, "Hub Discovery": the rel="mercure" links of a Link field
// with their last-event-id, type and content-type attributes, read with
// RFC 8288's syntax. web's TestNodeDiscoveryLinkMatchesGo checks the values
// mercure.DiscoveryLink writes.
test('mercureLinks reads the hubs of a Link field value', () => {
  const base = 'https://example.com/books/1';
  const hub = (href, lastEventId = '', type = '', contentType = '') => ({ href, lastEventId, type, contentType });
  assert.deepEqual(mercureLinks('<https://example.com/.well-known/mercure>; rel="mercure"', base), [hub('https://example.com/.well-known/mercure')]);
  assert.deepEqual(mercureLinks('</.well-known/mercure>; rel=mercure; last-event-id="urn:uuid:1"; type=book; content-type="application/merge-patch+json"', base),
    [hub('https://example.com/.well-known/mercure', 'urn:uuid:1', 'book', 'application/merge-patch+json')], 'relative, unquoted');
  assert.deepEqual(mercureLinks('</books/1.jsonld>; rel="self", <https://a.example/hub>; REL="alternate Mercure"; Last-Event-ID="x", <https://b.example/hub>; rel="mercure"', base),
    [hub('https://a.example/hub', 'x'), hub('https://b.example/hub')], 'several links, several rels, any case');
  assert.deepEqual(mercureLinks('<https://a.example/hub>; rel="mercure"; last-event-id="a,b;c=\\"d\\"\\\\"', base),
    [hub('https://a.example/hub', 'a,b;c="d"\\')], 'a quoted string with separators and escapes');
  assert.deepEqual(mercureLinks('<https://a.example/hub>; rel="self"; rel="mercure"', base), [], 'the first rel only');
  assert.deepEqual(mercureLinks('garbage "with, a comma", <https://b.example/hub>; rel="mercure", <https://c.example/hub> junk; rel="mercure", <https://d.example/hub>;rel=mercure', base),
    [hub('https://b.example/hub'), hub('https://d.example/hub')], 'malformed links are skipped, not the ones after them');
  assert.deepEqual(mercureLinks('<https://a.example/hub>; rel="mercure"; type="first"; type="second"', base), [hub('https://a.example/hub', '', 'first')]);
  assert.deepEqual(mercureLinks(null, base), []);
  assert.deepEqual(mercureLinks('', base), []);
  assert.deepEqual(mercureLinks('<http://[::1>; rel="mercure"', base), [], 'not a URL');
});
