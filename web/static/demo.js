// The demo page: follows the demo feed, and lets a developer subscribe to
// any topic and publish to it.
import { config, subscribeURL, matcher, open, showState, el, trim, formatTime, parseJSON, fetchToken, whileShown } from './common.js';
import { HubEventSource } from '/ssehub.js';

const cfg = config();
const maxShown = 100;
const $ = (id) => document.getElementById(id);

// ---- The demo feed ----

const feed = {
  es: null,
  opened: false,   // the first open is a connection; any later one a reconnection
  reconnects: 0,
  received: 0,
  gaps: 0,
  lastSeq: null,
  lastID: '',
};

function follow(lastEventID) {
  // Mercure 1.0: match= and, to start after an event, last_event_id=,
  // since EventSource sends no Last-Event-ID header before it reconnects.
  const es = open(subscribeURL(cfg.hub, { match: cfg.topic }, lastEventID));
  feed.es = es;
  showState($('state'), es);
  es.addEventListener('open', () => {
    if (feed.opened) {
      feed.reconnects++;
      $('reconnects').textContent = feed.reconnects;
      $('updates').prepend(el('li', 'mark reconnect', feed.lastID
        ? `Reconnected: resuming after ${feed.lastID}`
        : 'Reconnected'));
    }
    feed.opened = true;
    $('feed-closed').hidden = true;
    showState($('state'), es);
  });
  es.addEventListener('error', () => {
    // CONNECTING: the browser retries by itself after the reconnection
    // time, sending Last-Event-ID. CLOSED: the hub refused the stream
    // (a status other than 200, or not an event stream) and the browser
    // gave up.
    if (showState($('state'), es) === 'closed') $('feed-closed').hidden = false;
  });
  es.addEventListener('message', (e) => showUpdate(e, 'message'));
  es.addEventListener('note', (e) => showUpdate(e, 'note'));
}

function showUpdate(e, type) {
  const p = parseJSON(e.data) ?? {};
  const seq = Number.isSafeInteger(p.seq) ? p.seq : null;
  feed.received++;
  feed.lastID = e.lastEventId;
  $('received').textContent = feed.received;
  $('last-id').textContent = e.lastEventId || '–';
  $('last-id').title = e.lastEventId;
  if (seq !== null) checkSeq(seq);

  const li = $('update-tpl').content.firstElementChild.cloneNode(true);
  li.dataset.id = e.lastEventId;
  li.dataset.type = type;
  if (seq !== null) li.dataset.seq = seq;
  li.querySelector('.seq').textContent = seq !== null ? '#' + seq : '';
  const t = li.querySelector('.type');
  t.textContent = type;
  t.dataset.type = type;
  li.querySelector('.value').textContent =
    typeof p.value === 'number' ? p.value.toFixed(2) : '';
  const time = li.querySelector('time');
  if (p.time) {
    time.dateTime = p.time;
    time.textContent = formatTime(p.time);
    time.title = 'server time ' + p.time;
  }
  li.querySelector('.message').textContent = p.message ?? '';
  if (type !== 'message' || p.message === undefined) {
    // Named events and anything that is not the usual one-line JSON are
    // shown as sent: the <pre> keeps every line break.
    const pre = li.querySelector('.data');
    pre.textContent = e.data;
    pre.hidden = false;
  }
  li.querySelector('.id').textContent = e.lastEventId;
  $('updates').prepend(li);
  trim($('updates'), maxShown);
}

// checkSeq marks a gap when the feed skips a number, and a restart when
// it goes back (the hub no longer held our last event and replayed from
// its oldest one, or the feed was started over).
function checkSeq(seq) {
  const last = feed.lastSeq;
  feed.lastSeq = seq;
  if (last === null || seq === last + 1) return;
  let mark;
  if (seq > last + 1) {
    feed.gaps++;
    const g = $('gaps');
    g.dataset.gaps = feed.gaps;
    g.textContent = feed.gaps;
    g.classList.add('bad');
    const missing = seq - last - 1;
    mark = el('li', 'mark gap', `Gap: ${missing} update${missing > 1 ? 's' : ''} missing (#${last + 1}` +
      (missing > 1 ? `–#${seq - 1}` : '') + ')');
  } else {
    mark = el('li', 'mark restart', `Sequence went back from #${last} to #${seq}: replayed or restarted`);
  }
  $('updates').prepend(mark);
}

$('reopen').addEventListener('click', () => {
  feed.es?.close();
  // A new EventSource starts without Last-Event-ID; ask for the history
  // after the last update shown instead (or the page's cursor).
  follow(feed.lastID || cfg.lastEventID || undefined);
});

// ---- Subscribe to any topic ----

const sub = { es: null, kind: '', value: '', lastID: '', types: new Set(['message', 'note']) };

// subscribe follows one matcher of a kind: "match", "match_urlpattern"
// (Mercure 1.0) or "topic" (0.x), after lastID when given (the events
// shown stay then).
function subscribe(kind, value, lastID) {
  sub.es?.close();
  if (lastID === undefined) $('sub-events').replaceChildren();
  Object.assign(sub, { kind, value, lastID: lastID ?? '' });
  const es = open(subscribeURL(cfg.hub, matcher(kind, value), lastID || undefined));
  sub.es = es;
  const state = () => showState($('sub-state'), es);
  state();
  es.addEventListener('open', state);
  es.addEventListener('error', state);
  for (const t of sub.types) es.addEventListener(t, showEvent);
  $('unsub').disabled = false;
}

// listenFor adds a listener for a named event type: EventSource has no
// wildcard, so the page listens to every type it has published.
function listenFor(type) {
  if (!type || sub.types.has(type)) return;
  sub.types.add(type);
  sub.es?.addEventListener(type, showEvent);
}

function showEvent(e) {
  sub.lastID = e.lastEventId;
  const li = el('li', 'event');
  li.dataset.id = e.lastEventId;
  li.dataset.type = e.type;
  const head = el('div', 'event-head');
  const t = el('span', 'type', e.type);
  t.dataset.type = e.type;
  head.append(t, el('span', 'id mono', e.lastEventId));
  li.append(head, el('pre', 'data', e.data));
  $('sub-events').prepend(li);
  trim($('sub-events'), maxShown);
}

$('sub-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = $('sub-topic').value.trim();
  if (value) subscribe($('sub-kind').value, value);
});
$('unsub').addEventListener('click', () => {
  sub.es?.close();
  sub.es = null;
  showState($('sub-state'), null);
  $('unsub').disabled = true;
});

// ---- Publish ----

// postUpdate publishes a form with a fresh publish token from the page's
// endpoint and returns the update's ID.
async function postUpdate(body) {
  const token = await fetchToken(cfg.tokenURL);
  const r = await fetch(new URL(cfg.hub, location.href), {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + token },
    body, // URLSearchParams: sent as application/x-www-form-urlencoded
  });
  const text = (await r.text()).trim();
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${text}`);
  return text;
}

async function publish() {
  const out = $('pub-result');
  out.className = 'result';
  out.textContent = 'publishing…';
  try {
    const body = new URLSearchParams();
    const type = $('pub-type').value.trim();
    const id = $('pub-id').value.trim();
    body.set('topic', $('pub-topic').value.trim());
    body.set('data', $('pub-data').value);
    if (type) body.set('type', type);
    if (id) body.set('id', id);
    if ($('pub-private').checked) body.set('private', 'on');
    listenFor(type);
    const text = await postUpdate(body);
    out.classList.add('ok');
    out.textContent = 'published ' + text;
    out.dataset.id = text;
  } catch (err) {
    out.classList.add('bad');
    out.textContent = String(err.message || err);
  }
}

$('pub-form')?.addEventListener('submit', (ev) => {
  ev.preventDefault();
  publish();
});

// ---- The private topic: HubEventSource with a bearer token ----

// Beside it, a plain EventSource on the same topic: it cannot send the
// token, so the hub gives it no private update (unless an access token
// cookie for the hub is set in this browser).
const priv = { es: null, plain: null, plainLastID: '', received: 0, plainReceived: 0 };

function privateToken() {
  if (cfg.subscribeTokenURL) return fetchToken(cfg.subscribeTokenURL);
  return $('priv-token').value.trim();
}

function followPrivate() {
  priv.es?.close();
  // The token function runs before the first request and again when the
  // hub answers 401 invalid_token (the token expired): the stream goes on
  // from its last event ID. It speaks Mercure 1.0: match= and an access
  // token.
  const es = new HubEventSource(cfg.hub, { match: cfg.privateTopic, token: privateToken });
  priv.es = es;
  const state = () => showState($('priv-state'), es);
  state();
  es.addEventListener('open', state);
  es.addEventListener('error', (e) => {
    state();
    const out = $('priv-result');
    if (e.reason === 'token') {
      // Tried again after the backoff.
      out.className = 'result bad';
      out.textContent = 'no token: ' + String(e.error?.message || e.error);
    } else if (es.readyState === HubEventSource.CLOSED) {
      out.className = 'result bad';
      out.textContent = e.status === 401 ? 'the hub refused the token (401)' : `stopped: ${e.reason} ${e.status || ''}`;
    }
  });
  es.addEventListener('message', (e) => {
    priv.received++;
    $('priv-received').textContent = priv.received;
    const p = parseJSON(e.data) ?? {};
    const li = el('li', 'event');
    li.dataset.id = e.lastEventId;
    const head = el('div', 'event-head');
    head.append(el('span', 'type', e.type), el('span', 'id mono', e.lastEventId));
    li.append(head, el('p', 'message', p.message ?? e.data));
    $('priv-events').prepend(li);
    trim($('priv-events'), 20);
  });
}

function followPlain(lastID) {
  priv.plain = open(subscribeURL(cfg.hub, { match: cfg.privateTopic }, lastID));
  priv.plain.addEventListener('message', (e) => {
    priv.plainLastID = e.lastEventId;
    priv.plainReceived++;
    $('priv-plain').textContent = priv.plainReceived;
  });
}

$('priv-form')?.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if ($('priv-token').value.trim()) followPrivate();
});

let privSent = 0;
$('priv-publish')?.addEventListener('click', async () => {
  const out = $('priv-result');
  out.className = 'result';
  try {
    const n = ++privSent;
    const body = new URLSearchParams({
      topic: cfg.privateTopic, private: 'on',
      data: JSON.stringify({ message: `Private update ${n}: only a subscriber with a token sees it.`, time: new Date().toISOString() }),
    });
    const id = await postUpdate(body);
    out.classList.add('ok');
    out.textContent = 'published ' + id;
    out.dataset.id = id;
  } catch (err) {
    out.classList.add('bad');
    out.textContent = String(err.message || err);
  }
});

// ---- Back/forward cache ----

// The page's EventSources close when it is hidden and reopen after their
// last event when it comes back from the back/forward cache: the feed
// marks the reconnection, and misses nothing. Those the hub had closed
// stay closed. The private panel's HubEventSource does this by itself.
const reopens = [];
whileShown(() => {
  reopens.length = 0;
  const closing = (es, reopen) => {
    if (!es || es.readyState === EventSource.CLOSED) return;
    es.close();
    reopens.push(reopen);
  };
  closing(feed.es, () => follow(feed.lastID || cfg.lastEventID || undefined));
  closing(priv.plain, () => followPlain(priv.plainLastID || undefined));
  closing(sub.es, () => subscribe(sub.kind, sub.value, sub.lastID));
}, () => {
  for (const f of reopens.splice(0)) f();
});

// ---- Start ----

// From the update the hub had when it made the page (the last-event-id of
// its discovery Link), so nothing published in between is missed.
follow(cfg.lastEventID || undefined);
followPlain();
if (cfg.subscribeTokenURL) followPrivate();
// ?match=…, ?match_urlpattern=… or 0.x's ?topic=… (the first one given)
// starts a subscription at once, so a link can point at a topic.
const linked = [...new URLSearchParams(location.search)].find(([k]) => ['match', 'match_urlpattern', 'topic'].includes(k));
if (linked) {
  const [kind, value] = linked;
  $('sub-topic').value = value;
  $('sub-kind').value = kind;
  subscribe(kind, value);
}
