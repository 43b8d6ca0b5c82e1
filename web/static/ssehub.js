// ssehub.js: a browser client for Server-Sent Events that does what the
// browser's EventSource cannot: send an Authorization header (and refresh
// an expired token), use another method and a body, resume after a reload,
// and back off without storming a hub that is down. Served by ssehub at
// /ssehub.js, with its types at /ssehub.d.ts. One ES module, no
// dependencies, no build step; it imports in Node too, and touches window,
// document, navigator and sessionStorage only when they exist.
//
//   import { HubEventSource } from 'https://hub.example.com/ssehub.js';
//   const es = new HubEventSource('https://hub.example.com/.well-known/mercure', {
//     match: ['https://example.com/books/1'], token: () => fetchToken(),
//   });
//   es.onmessage = (e) => console.log(e.lastEventId, e.data);

/** @typedef {{ type: string, data: string, id: string }} ParsedEvent */

/**
 * @typedef {object} ParserCallbacks
 * @property {(event: ParsedEvent) => void} [onEvent] called for each dispatched event
 * @property {(ms: number) => void} [onRetry] called when a valid retry field sets the reconnection time
 * @property {(comment: string) => void} [onComment] called for each comment line, with the text after the colon
 * @property {string} [lastEventId] the last event ID before the stream, as a resumed connection sent it
 * @property {number} [maxEventSize] the bound, in bytes, on any one line and on the data of any one
 *   event (DEFAULT_MAX_EVENT_SIZE, 16 MiB, when 0 or absent), as the Go parser's MaxEventSize
 */

/**
 * @typedef {object} Parser
 * @property {(chunk: Uint8Array | string) => void} feed interprets the next part of the stream;
 *   throws an EventTooLargeError when a line or an event's data exceeds maxEventSize, after
 *   dispatching the events before it, and throws the same error again until reset()
 * @property {() => void} reset starts a new stream (a new response): pending input is
 *   discarded and a leading BOM is dropped again; the last event ID is kept
 * @property {string} lastEventId the last event ID as of the most recent blank line
 */

/**
 * DEFAULT_MAX_EVENT_SIZE is the parser's maxEventSize when none is given:
 * 16 MiB, the Go parser's sse.DefaultMaxEventSize.
 */
export const DEFAULT_MAX_EVENT_SIZE = 16 << 20;

/**
 * EventTooLargeError is what a parser throws when a line or the data of one
 * event exceeds its maxEventSize, as the Go parser's errors wrapping
 * sse.ErrTooLarge: a hostile or broken stream cannot make the page hold
 * it without bound.
 */
export class EventTooLargeError extends Error {
  /**
   * @param {'line' | 'data'} what which bound was exceeded
   * @param {number} limit the maxEventSize
   */
  constructor(what, limit) {
    super(`sse: event too large: ${what} longer than ${limit} bytes`);
    this.name = 'EventTooLargeError';
    this.what = what;
    this.limit = limit;
  }
}

// utf8Length is the length in UTF-8 of s.slice(from, to): what the Go
// parser counts. A lone surrogate (only a string fed by the caller has
// one) counts as the U+FFFD that TextEncoder makes of it.
function utf8Length(s, from = 0, to = s.length) {
  let n = to - from;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      n += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < to && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair: four bytes for two units
      i++;
    } else {
      n += 2;
    }
  }
  return n;
}

// The largest retry the Go parser in package sse accepts: what fits a
// time.Duration in milliseconds. Larger values are ignored, as there.
const maxRetry = '9223372036854';

/**
 * createParser returns a parser of a text/event-stream body that follows the
 * WHATWG HTML standard's "Interpreting an event stream" to the letter, as
 * the Go parser of package sse does (both are tested against
 * sse/testdata/decode.json): bytes are decoded as streaming UTF-8 (one
 * leading BOM dropped, each maximal ill-formed subsequence one U+FFFD), lines
 * end at CRLF, LF or CR (an event ends at its blank line even when it is
 * a CR that an LF may follow), and a block is dispatched when its data is
 * not empty.
 *
 * A line, or the data of one event, longer than maxEventSize bytes stops the
 * parser with an EventTooLargeError, at the same point of the stream as the
 * Go parser: a line's length is its bytes as they came (a string chunk's in
 * UTF-8), without its line end and a leading BOM; an event's data is
 * counted as decoded, in UTF-8 (an ill-formed sequence as the three bytes
 * of its U+FFFD), with a line feed after each data line before the
 * current one.
 *
 * @param {ParserCallbacks} [callbacks]
 * @returns {Parser}
 */
export function createParser({ onEvent, onRetry, onComment, lastEventId = '', maxEventSize = 0 } = {}) {
  let decoder, bomPending, pending, skipLF, data, dataBytes, type, idBuf, failed;
  // The bound counts a line's bytes as they came, as the Go parser does
  // (an ill-formed sequence is shorter than its U+FFFD): measure finds the
  // lines in the input before it is decoded, into lens (the lengths of the
  // lines that text has yet to reach) and cur (the line not ended yet).
  // Decoding keeps every CR and LF, so both see the same lines.
  let lens, lensHead, cur, curSkipLF;
  let lastId = String(lastEventId);
  const limit = maxEventSize > 0 ? maxEventSize : DEFAULT_MAX_EVENT_SIZE;

  function reset() {
    // ignoreBOM: the BOM is dropped below, the same way for bytes and for
    // strings.
    decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    bomPending = true;
    pending = '';
    skipLF = false;
    lens = [];
    lensHead = 0;
    cur = 0;
    curSkipLF = false;
    data = '';
    dataBytes = -1; // not counted yet
    type = '';
    idBuf = lastId;
    failed = undefined;
  }
  reset();

  function dispatch() {
    lastId = idBuf;
    if (data === '') {
      type = '';
      return;
    }
    const e = { type: type || 'message', data: data.slice(0, -1), id: lastId };
    data = '';
    dataBytes = -1; // not counted yet
    type = '';
    if (onEvent) onEvent(e);
  }

  function line(l) {
    if (l === '') return dispatch();
    if (l.charCodeAt(0) === 0x3a) { // a comment
      if (onComment) onComment(l.slice(1));
      return;
    }
    let name = l, value = '';
    const colon = l.indexOf(':');
    if (colon >= 0) {
      name = l.slice(0, colon);
      value = l.slice(colon + (l.charCodeAt(colon + 1) === 0x20 ? 2 : 1));
    }
    switch (name) {
      case 'data': {
        // Counted only once the data could reach the limit (three bytes
        // at most per UTF-16 unit), then kept up to date.
        if (dataBytes >= 0 || 3 * (data.length + value.length) > limit) {
          if (dataBytes < 0) dataBytes = utf8Length(data);
          const n = utf8Length(value);
          if (dataBytes + n > limit) throw new EventTooLargeError('data', limit);
          dataBytes += n + 1;
        }
        data += value + '\n';
        break;
      }
      case 'event':
        type = value;
        break;
      case 'id':
        if (!value.includes('\0')) idBuf = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) {
          const digits = value.replace(/^0+(?=.)/, '');
          if (digits.length < maxRetry.length || (digits.length === maxRetry.length && digits <= maxRetry)) {
            if (onRetry) onRetry(Number(digits));
          }
        }
        break;
    }
  }

  // measure adds the lines of chunk, bytes or a string, to lens and cur.
  function measure(chunk) {
    const bytes = typeof chunk !== 'string';
    const at = (i) => (bytes ? chunk[i] : chunk.charCodeAt(i));
    const size = (from, to) => (bytes ? to - from : utf8Length(chunk, from, to));
    let i = 0;
    if (curSkipLF && chunk.length > 0) {
      curSkipLF = false;
      if (at(0) === 0x0a) i = 1;
    }
    // The next CR and LF, searched again only once passed: a chunk
    // without one of them is not scanned to its end at every line.
    const find = (c, from) => {
      const j = chunk.indexOf(bytes ? c.charCodeAt(0) : c, from);
      return j < 0 ? Infinity : j;
    };
    let cr = -1, lf = -1;
    while (i < chunk.length) {
      if (cr < i) cr = find('\r', i);
      if (lf < i) lf = find('\n', i);
      const end = cr < lf ? cr : lf === Infinity ? -1 : lf;
      if (end < 0) {
        cur += size(i, chunk.length);
        return;
      }
      lens.push(cur + size(i, end));
      cur = 0;
      i = end + 1;
      if (end === cr) {
        if (i < chunk.length) {
          if (at(i) === 0x0a) i++;
        } else {
          curSkipLF = true;
        }
      }
    }
  }

  function text(s) {
    if (bomPending && s !== '') {
      bomPending = false;
      if (s.charCodeAt(0) === 0xfeff) {
        s = s.slice(1);
        // The BOM is not part of the first line: three bytes.
        if (lensHead < lens.length) lens[lensHead] -= 3;
        else cur -= 3;
      }
    }
    let i = 0;
    if (skipLF && s !== '') {
      skipLF = false;
      if (s.charCodeAt(0) === 0x0a) i = 1;
    }
    while (i < s.length) {
      let cr = s.indexOf('\r', i), lf = s.indexOf('\n', i);
      let end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      if (end < 0) {
        pending += s.slice(i);
        return;
      }
      const n = lens[lensHead++];
      if (lensHead === lens.length) lens.length = lensHead = 0;
      if (n > limit) throw new EventTooLargeError('line', limit);
      const l = pending + s.slice(i, end);
      pending = '';
      i = end + 1;
      if (end === cr) {
        if (i < s.length) {
          if (s.charCodeAt(i) === 0x0a) i++;
        } else {
          skipLF = true;
        }
      }
      line(l);
    }
  }

  return {
    feed(chunk) {
      // As the Go parser's, the error is final: the stream cannot be read
      // on from the middle of a line or an event.
      if (failed) throw failed;
      try {
        if (typeof chunk === 'string') {
          // Bytes held for an unfinished sequence end before a string.
          text(decoder.decode());
          measure(chunk);
          text(chunk);
        } else {
          measure(chunk);
          text(decoder.decode(chunk, { stream: true }));
        }
        // The line not ended yet, with any bytes of a sequence the
        // decoder holds, as the Go parser counts its unread bytes.
        if (cur > limit) throw new EventTooLargeError('line', limit);
      } catch (err) {
        if (err instanceof EventTooLargeError) {
          failed = err;
          pending = data = '';
        }
        throw err;
      }
    },
    reset,
    get lastEventId() { return lastId; },
  };
}

// matcherParams returns the query parameters of the matchers of o: Mercure
// 1.0's match and match_urlpattern, or 0.x's topic, and whether they are
// 0.x's. The hub refuses a request that mixes the two (400), so a mix is
// refused here, where the page's author sees it.
function matcherParams({ match, matchURLPattern, topic }) {
  const params = [];
  for (const [key, v] of [['match', match], ['match_urlpattern', matchURLPattern], ['topic', topic]]) {
    for (const x of v === undefined ? [] : [].concat(v)) params.push([key, String(x)]);
  }
  const legacy = params.some(([k]) => k === 'topic');
  if (legacy && params.some(([k]) => k !== 'topic')) {
    throw new TypeError('ssehub: topic (Mercure 0.x) cannot be mixed with match or matchURLPattern (Mercure 1.0)');
  }
  return { params, legacy };
}

/**
 * @typedef {object} MercureSubscription
 * @property {string[] | string} [match] Mercure 1.0 exact topic matchers (match=)
 * @property {string[] | string} [matchURLPattern] Mercure 1.0 URL Pattern matchers (match_urlpattern=)
 * @property {string[] | string} [topic] Mercure 0.x topic selectors (topic=)
 * @property {string} [lastEventId] the event ID to start after ("earliest": all the hub keeps)
 */

/**
 * mercureURL returns the URL of a subscription to the hub at hub (resolved
 * against the page's URL), for the browser's own EventSource, which can
 * send no header on its first request: the matchers as query parameters,
 * and lastEventId as Mercure 1.0's last_event_id (0.x's lastEventID when
 * the matchers are 0.x topics). A reconnection's Last-Event-ID header wins
 * over it at the hub ("Reconnection, State Reconciliation, and Event
 * Sourcing"), so the URL stays right for the life of the EventSource.
 * Mixing topic with match or matchURLPattern throws a TypeError, as the hub
 * would refuse the request.
 *
 * @param {string | URL} hub the hub's URL
 * @param {MercureSubscription} [subscription]
 * @returns {string}
 */
export function mercureURL(hub, subscription = {}) {
  const u = new URL(hub, globalThis.location ? globalThis.location.href : undefined);
  const { params, legacy } = matcherParams(subscription);
  for (const [k, v] of params) u.searchParams.append(k, v);
  const id = subscription.lastEventId;
  if (id !== undefined && id !== '') u.searchParams.set(legacy ? 'lastEventID' : 'last_event_id', String(id));
  return u.href;
}

/**
 * @typedef {object} MercureLink
 * @property {string} href the hub's URL, resolved against the resource's
 * @property {string} lastEventId the last-event-id attribute, to start after (lastEventId of
 *   HubEventSource or mercureURL); '' when absent
 * @property {string} type the event type of the updates; '' when absent: "message"
 * @property {string} contentType the content type of the updates; '' when absent: the resource's
 */

// tchar is RFC 9110's token character.
const tchar = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * mercureLinks returns the hubs a Link field value advertises (Mercure 1.0,
 * "Hub Discovery"), in order: its links whose rel includes "mercure", with
 * their last-event-id, type and content-type attributes. It reads RFC
 * 8288's syntax: several links in one value, quoted strings with their
 * escapes (so a comma or a semicolon in an ID is no separator), parameter
 * names and rel values in any case, the first rel of a link only; a
 * malformed link is skipped, not the ones after it.
 *
 * @param {string | null} value the Link field value (all of them joined with ", ")
 * @param {string | URL} [base] what relative hub URLs resolve against: the resource's URL
 * @returns {MercureLink[]}
 */
export function mercureLinks(value, base = globalThis.location ? globalThis.location.href : undefined) {
  const links = [];
  const s = value ?? '';
  const n = s.length;
  let i = 0;
  const ws = () => { while (i < n && (s[i] === ' ' || s[i] === '\t')) i++; };
  const token = () => { const from = i; while (i < n && tchar.test(s[i])) i++; return s.slice(from, i); };
  // skip moves past the rest of a malformed link: to the next comma
  // outside a quoted string and the URI brackets.
  const skip = () => {
    for (let quoted = false; i < n; i++) {
      if (quoted && s[i] === '\\') i++;
      else if (s[i] === '"') quoted = !quoted;
      else if (!quoted && s[i] === ',') return;
    }
  };
  while (i < n) {
    ws();
    if (s[i] === ',') { i++; continue; }
    const end = s[i] === '<' ? s.indexOf('>', i) : -1;
    if (end < 0) { skip(); continue; }
    const target = s.slice(i + 1, end);
    i = end + 1;
    const params = new Map();
    let ok = true;
    for (;;) {
      ws();
      if (i >= n || s[i] === ',') break;
      if (s[i] !== ';') { ok = false; skip(); break; }
      i++;
      ws();
      const name = token().toLowerCase();
      ws();
      let v = '';
      if (s[i] === '=') {
        i++;
        ws();
        if (s[i] === '"') {
          for (i++; i < n && s[i] !== '"'; i++) {
            if (s[i] === '\\' && i + 1 < n) i++;
            v += s[i];
          }
          i++;
        } else {
          v = token();
        }
      }
      // RFC 8288, section 3.3: a rel after the first is ignored; so are
      // repeated attributes here.
      if (name && !params.has(name)) params.set(name, v);
    }
    if (!ok || !(params.get('rel') ?? '').toLowerCase().split(/[ \t]+/).includes('mercure')) continue;
    let href;
    try {
      href = new URL(target, base).href;
    } catch {
      continue; // not a URL: no hub
    }
    links.push({
      href,
      lastEventId: params.get('last-event-id') ?? '',
      type: params.get('type') ?? '',
      contentType: params.get('content-type') ?? '',
    });
  }
  return links;
}

// Methods that may be sent again without asking (RFC 9110 §9.2.2, and QUERY,
// which is safe).
const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'QUERY']);

const defaults = {
  retry: 3000, // the reconnection time until the stream sets one, ms
  maxRetry: 60000, // the cap on the backoff, ms
  wakeJitter: 1000, // the spread of reconnections when the network returns or the tab shows, ms
};

/**
 * @typedef {object} HubEventSourceInit
 * @property {boolean} [withCredentials] send cookies to another origin, as EventSource's option
 * @property {HeadersInit} [headers] extra request headers
 * @property {string | ((why: 'initial' | 'invalid_token') => string | Promise<string>)} [token]
 *   a bearer token, or a function returning one; a function is called before the first request
 *   and again whenever the hub answers 401 with error="invalid_token"
 * @property {string} [method] GET (the default) or QUERY; any other method that is not idempotent
 *   is never sent again automatically
 * @property {BodyInit} [body] the request body (not with GET or HEAD); with QUERY, a string or
 *   URLSearchParams form that the match options are added to
 * @property {string[] | string} [match] Mercure 1.0 exact topic matchers
 * @property {string[] | string} [matchURLPattern] Mercure 1.0 URL Pattern matchers
 * @property {string[] | string} [topic] Mercure 0.x topic selectors
 * @property {string} [lastEventId] the event ID to resume after
 * @property {boolean | string} [persist] keep the last event ID in sessionStorage (under this key,
 *   or one made from the URL) so a reload resumes where the page was
 * @property {number} [retry] the reconnection time until the stream sets one, ms (3000)
 * @property {number} [maxRetry] the cap on the backoff, ms (60000)
 * @property {number} [idleTimeout] reconnect when nothing, not even a heartbeat comment, arrived
 *   for this long, ms; 0 (the default) never
 * @property {number} [wakeJitter] the spread of reconnections when the network returns or the tab shows, ms (1000)
 * @property {boolean} [pauseWhenHidden] wait until a hidden tab shows before reconnecting (true)
 * @property {boolean} [pauseOnPageHide] drop the connection when the page is hidden for the
 *   back/forward cache (pagehide) and make a new one, from the last event ID, when it is restored
 *   from it (pageshow) (true)
 * @property {number} [maxEventSize] the bound on a line and on an event's data, bytes (16 MiB): a
 *   stream that exceeds it fails the connection with an error event of reason 'too-large'
 * @property {typeof fetch} [fetch] the fetch function to use
 */

/**
 * HubErrorEvent is the error event of a HubEventSource: like EventSource's,
 * plus why.
 */
export class HubErrorEvent extends Event {
  /**
   * @param {string} reason 'network', 'status', 'content-type', 'ended', 'token', 'method', 'idle',
   *   'too-large'
   * @param {number} status the response's status, 0 when there was none
   * @param {unknown} [error] the underlying error
   */
  constructor(reason, status = 0, error = undefined) {
    super('error');
    this.reason = reason;
    this.status = status;
    this.error = error;
  }
}

/**
 * HubEventSource is a drop-in for EventSource that reads the stream with
 * fetch. It keeps EventSource's behaviour (readyState, url,
 * withCredentials, onopen/onmessage/onerror, named events as MessageEvents,
 * close(); reconnection after the stream ends or the network fails with
 * Last-Event-ID and the stream's retry; a status other than 200 or a
 * content type other than text/event-stream fails the connection, so 204
 * stops it) and adds:
 *
 *   - headers and a bearer token, refreshed on 401 invalid_token;
 *   - another method (QUERY) and a body; a method that is not idempotent is
 *     never sent again: the end of its stream closes the source;
 *   - Mercure's match, matchURLPattern and topic parameters (1.0 and 0.x;
 *     mixing them throws a TypeError), a lastEventId to start after,
 *     mercureLastEventId (where the hub says the stream starts), and
 *     persist;
 *   - exponential backoff from the reconnection time on consecutive
 *     failures, with jitter, capped at maxRetry and reset by an open;
 *     Retry-After honoured on 429 and 503, which (with 502 and 504) are
 *     retried rather than fatal;
 *   - no reconnection while the tab is hidden or the browser offline: one,
 *     spread by jitter, when it shows or the network returns;
 *   - no connection while the page is in the back/forward cache: it is
 *     dropped on pagehide, without an error event, and made again with
 *     Last-Event-ID on a persisted pageshow, so the page misses nothing.
 *     A cached page that kept it would still count as a subscriber at the
 *     hub and hold one of the browser's six HTTP/1.1 connections to the
 *     host, until the seventh request to it waits for ever.
 */
export class HubEventSource extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  CONNECTING = 0;
  OPEN = 1;
  CLOSED = 2;

  #opts;
  #url; // the request URL
  #body;
  #readyState = 0;
  #lastId = '';
  #hubLastId = '';
  #reconnectTime;
  #failures = 0;
  #timer = 0;
  #idleTimer = 0;
  #abort = null;
  #token = undefined;
  #waiting = ''; // '', 'online', 'visible' or 'pageshow': a reconnection waits for it
  #handlers = {};
  #storeKey = '';
  #unlisten = [];

  /**
   * @param {string | URL} url
   * @param {HubEventSourceInit} [init]
   */
  constructor(url, init = {}) {
    super();
    this.#opts = { ...defaults, pauseWhenHidden: true, pauseOnPageHide: true, idleTimeout: 0, ...init };
    const o = this.#opts;
    const base = globalThis.location ? globalThis.location.href : undefined;
    const u = new URL(url, base);
    const method = (o.method || 'GET').toUpperCase();
    o.method = method;
    const { params } = matcherParams(o);
    if (method === 'QUERY') {
      const form = new URLSearchParams(o.body === undefined ? '' : o.body);
      for (const [k, v] of params) form.append(k, v);
      this.#body = form;
    } else {
      for (const [k, v] of params) u.searchParams.append(k, v);
      this.#body = o.body;
    }
    this.#url = u.href;
    o.withCredentials = !!o.withCredentials;
    this.#reconnectTime = o.retry;
    this.#lastId = o.lastEventId === undefined ? '' : String(o.lastEventId);
    if (o.persist) {
      this.#storeKey = typeof o.persist === 'string' ? o.persist
        : 'ssehub:lastEventId:' + method + ' ' + this.#url + (method === 'QUERY' ? ' ' + this.#body : '');
      const saved = storage()?.getItem(this.#storeKey);
      if (saved != null) this.#lastId = saved;
    }
    this.#watch();
    this.#connect(true);
  }

  /** @returns {string} */
  get url() { return this.#url; }
  /** @returns {boolean} */
  get withCredentials() { return this.#opts.withCredentials; }
  /** @returns {number} */
  get readyState() { return this.#readyState; }
  /** @returns {string} the last event ID, sent as Last-Event-ID on the next connection */
  get lastEventId() { return this.#lastId; }
  /**
   * @returns {string} where the hub says the current stream starts: the ID of the event before
   *   the first one it sends, or "earliest", from the response's Mercure-Last-Event-ID (Mercure
   *   1.0, sent when the request asked to resume) or Last-Event-ID (0.x); "" when it sent neither
   */
  get mercureLastEventId() { return this.#hubLastId; }

  get onopen() { return this.#handlers.open ?? null; }
  set onopen(f) { this.#setHandler('open', f); }
  get onmessage() { return this.#handlers.message ?? null; }
  set onmessage(f) { this.#setHandler('message', f); }
  get onerror() { return this.#handlers.error ?? null; }
  set onerror(f) { this.#setHandler('error', f); }

  #setHandler(type, f) {
    // Like an event handler attribute: one listener, added when first set,
    // keeps its place among the others.
    if (!(type in this.#handlers)) {
      this.addEventListener(type, (e) => {
        const h = this.#handlers[type];
        if (typeof h === 'function') h.call(this, e);
      });
    }
    this.#handlers[type] = typeof f === 'function' ? f : null;
  }

  /** close stops the source: it aborts the request and never makes another. */
  close() {
    if (this.#readyState === 2) return;
    this.#readyState = 2;
    clearTimeout(this.#timer);
    clearTimeout(this.#idleTimer);
    this.#abort?.abort();
    for (const f of this.#unlisten) f();
    this.#unlisten = [];
  }

  #watch() {
    const on = (target, type, f) => {
      if (!target?.addEventListener) return;
      target.addEventListener(type, f);
      this.#unlisten.push(() => target.removeEventListener(type, f));
    };
    const resume = (why) => () => {
      if (this.#waiting !== why || this.#readyState === 2) return;
      if (why === 'visible' && globalThis.document?.visibilityState === 'hidden') return;
      this.#waiting = '';
      // The network or the tab came back: the failures were not the
      // hub's. Every client on the page, and every page, comes back at
      // once, so spread them.
      this.#failures = 0;
      this.#schedule(Math.random() * this.#opts.wakeJitter);
    };
    on(globalThis.window, 'online', resume('online'));
    on(globalThis.document, 'visibilitychange', resume('visible'));
    if (!this.#opts.pauseOnPageHide) return;
    on(globalThis.window, 'pagehide', () => this.#pause());
    on(globalThis.window, 'pageshow', (e) => {
      if (!e.persisted || this.#waiting !== 'pageshow' || this.#readyState === 2) return;
      // Restored from the back/forward cache: one page, one user, so at
      // once, from the last event ID.
      this.#waiting = '';
      this.#failures = 0;
      this.#connect(true);
    });
  }

  // #pause drops the request, or the pending reconnection, while the page
  // is hidden and may go into the back/forward cache. The last event ID is
  // that of the last event dispatched, so the next request resumes after it.
  #pause() {
    if (this.#readyState === 2) return;
    clearTimeout(this.#timer);
    clearTimeout(this.#idleTimer);
    const ctl = this.#abort;
    this.#abort = null;
    this.#waiting = 'pageshow';
    this.#readyState = 0;
    ctl?.abort();
  }

  async #connect(first = false) {
    if (this.#readyState === 2) return;
    const o = this.#opts;
    // The first request goes out as EventSource's does; a reconnection
    // waits for the network, and for a hidden tab to show.
    if (!first && typeof navigator !== 'undefined' && navigator.onLine === false) {
      this.#waiting = 'online';
      return;
    }
    if (!first && o.pauseWhenHidden && globalThis.document?.visibilityState === 'hidden') {
      this.#waiting = 'visible';
      return;
    }
    const ctl = new AbortController();
    this.#abort = ctl;
    let res;
    try {
      if (this.#token === undefined && o.token !== undefined) this.#token = await this.#getToken('initial');
      res = await this.#fetch(ctl.signal);
      if (res.status === 401 && typeof o.token === 'function' && invalidToken(res) && idempotent.has(o.method)) {
        discard(res);
        // The token expired or was revoked: a fresh one, once.
        this.#token = await this.#getToken('invalid_token');
        res = await this.#fetch(ctl.signal);
      }
    } catch (err) {
      if (this.#readyState === 2 || ctl.signal.aborted) return;
      // A token function that failed (its endpoint is down, say) is
      // tried again with the backoff, as a network error is.
      if (err instanceof TokenError) {
        this.#token = undefined;
        return this.#reestablish(new HubErrorEvent('token', 0, err.cause));
      }
      return this.#reestablish(new HubErrorEvent('network', 0, err));
    }
    if (this.#readyState === 2 || ctl.signal.aborted) {
      discard(res);
      return;
    }
    if (res.status !== 200) {
      discard(res);
      const ev = new HubErrorEvent('status', res.status);
      if ([429, 502, 503, 504].includes(res.status)) return this.#reestablish(ev, retryAfter(res));
      return this.#fail(ev);
    }
    const ct = (res.headers.get('Content-Type') || '').split(';')[0].trim().toLowerCase();
    if (ct !== 'text/event-stream') {
      discard(res);
      return this.#fail(new HubErrorEvent('content-type', res.status));
    }
    // Mercure 1.0, "Reconnection, State Reconciliation, and Event
    // Sourcing": a value other than the ID asked for tells the page that
    // updates may have been lost. A cross-origin hub must expose the
    // field (ssehub does).
    this.#hubLastId = res.headers.get('Mercure-Last-Event-ID') ?? res.headers.get('Last-Event-ID') ?? '';
    this.#readyState = 1;
    this.#failures = 0;
    this.dispatchEvent(new Event('open'));
    await this.#read(res, ctl);
  }

  async #getToken(why) {
    const t = this.#opts.token;
    try {
      const v = typeof t === 'function' ? await t(why) : t;
      return v == null || v === '' ? '' : String(v);
    } catch (err) {
      throw new TokenError(err);
    }
  }

  #fetch(signal) {
    const o = this.#opts;
    const h = new Headers(o.headers);
    h.set('Accept', 'text/event-stream');
    if (this.#token) h.set('Authorization', 'Bearer ' + this.#token);
    if (this.#lastId !== '') h.set('Last-Event-ID', this.#lastId);
    const init = {
      method: o.method,
      headers: h,
      credentials: o.withCredentials ? 'include' : 'same-origin',
      cache: 'no-store',
      signal,
    };
    if (this.#body !== undefined && o.method !== 'GET' && o.method !== 'HEAD') init.body = this.#body;
    return (o.fetch || globalThis.fetch)(this.#url, init);
  }

  async #read(res, ctl) {
    const origin = new URL(res.url || this.#url).origin;
    const parser = createParser({
      lastEventId: this.#lastId,
      maxEventSize: this.#opts.maxEventSize,
      onRetry: (ms) => { this.#reconnectTime = ms; },
      onEvent: (e) => {
        if (this.#readyState === 2) return;
        this.#lastId = e.id;
        this.dispatchEvent(new MessageEvent(e.type, { data: e.data, lastEventId: e.id, origin }));
      },
    });
    const reader = res.body.getReader();
    const idle = this.#opts.idleTimeout;
    let timedOut = false;
    const arm = () => {
      if (!idle) return;
      clearTimeout(this.#idleTimer);
      this.#idleTimer = setTimeout(() => { timedOut = true; ctl.abort(); }, idle);
    };
    let why;
    try {
      arm();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          why = new HubErrorEvent('ended', res.status);
          break;
        }
        arm();
        try {
          parser.feed(value);
        } catch (err) {
          if (!(err instanceof EventTooLargeError)) throw err;
          // Fail the connection, as the Go client does: reconnecting
          // would ask again after the same event ID and get the same
          // event. The events before it were dispatched.
          this.#save();
          ctl.abort();
          return this.#fail(new HubErrorEvent('too-large', res.status, err));
        }
        this.#lastId = parser.lastEventId;
        this.#save();
        if (this.#readyState === 2) return;
      }
    } catch (err) {
      why = new HubErrorEvent(timedOut ? 'idle' : 'network', res.status, err);
    } finally {
      clearTimeout(this.#idleTimer);
    }
    // Closed, or dropped by #pause.
    if (this.#readyState === 2 || this.#abort !== ctl) return;
    // An ended stream is no failure of its own: it resets the backoff
    // (the open did) and waits the reconnection time.
    this.#reestablish(why);
  }

  #save() {
    if (!this.#storeKey) return;
    try {
      storage()?.setItem(this.#storeKey, this.#lastId);
    } catch {
      // Storage full or refused: the page resumes from the start.
    }
  }

  // #reestablish is EventSource's "reestablish the connection", with
  // backoff: never for a method that is not idempotent.
  #reestablish(ev, minDelay = 0) {
    if (this.#readyState === 2) return;
    if (!idempotent.has(this.#opts.method)) {
      return this.#fail(new HubErrorEvent('method', ev.status, ev.error));
    }
    this.#readyState = 0;
    this.dispatchEvent(ev);
    if (this.#readyState === 2) return; // the error handler closed it
    const o = this.#opts;
    const d = Math.min(o.maxRetry, this.#reconnectTime * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    // Jitter above the reconnection time, never below it: the stream's
    // retry is the least it asked for.
    this.#schedule(Math.max(minDelay, d + Math.random() * d / 2));
  }

  #schedule(ms) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#connect(), ms);
  }

  // #fail is EventSource's "fail the connection".
  #fail(ev) {
    if (this.#readyState === 2) return;
    this.close();
    this.dispatchEvent(ev);
  }
}

class TokenError extends Error {
  constructor(cause) {
    super('ssehub: the token function failed', { cause });
  }
}

function discard(res) {
  res.body?.cancel().catch(() => {});
}

function storage() {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null; // storage disabled
  }
}

// invalidToken reports whether a 401 carries RFC 6750's
// error="invalid_token" in its Bearer challenge.
function invalidToken(res) {
  return /\berror\s*=\s*"?invalid_token"?/i.test(res.headers.get('WWW-Authenticate') || '');
}

// retryAfter returns the delay Retry-After asks for, in ms (RFC 9110
// §10.2.3: seconds or an HTTP date), or 0.
function retryAfter(res) {
  const v = (res.headers.get('Retry-After') || '').trim();
  if (/^[0-9]+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? 0 : Math.max(0, t - Date.now());
}
