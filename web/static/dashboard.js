// The dashboard: the hub's figures streamed over SSE from the hub itself,
// charts of the rates, and a view of one topic's recent updates.
import { config, subscribeURL, matcher, open, showState, el, parseJSON, whileShown } from './common.js';
import { HubEventSource } from '/ssehub.js';

const cfg = config();
const $ = (id) => document.getElementById(id);
const window5m = 300; // samples kept for the charts: one a second
const minSpan = 60;   // a chart spans at least a minute, so a new one is not a sliver

// ---- Figures ----

const series = { published: [], delivered: [], subscribers: [] };

const num = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return num.format(n) + ' ' + units[i];
}

function set(id, text) { $(id).textContent = text; }

function showFigures(f) {
  set('fig-subscribers', num.format(f.subscribers));
  set('fig-topics', num.format(f.topics));
  set('fig-templates', num.format(f.templates));
  set('fig-published', num.format(f.published));
  set('fig-delivered', num.format(f.delivered));
  set('fig-slow', num.format(f.slowDisconnects));
  set('fig-memory', bytes(f.memory.total));
  set('fig-heap', bytes(f.memory.heap));
  set('fig-goroutines', num.format(f.memory.goroutines));
  if (f.history !== undefined) set('fig-history', num.format(f.history));
  else if (f.historyError) { set('fig-history', '?'); $('fig-history').title = f.historyError; }
  else set('fig-history', 'n/a');
  // The first sample of a stream carries no rates.
  if (f.publishedPerSecond === undefined) return;
  set('fig-published-rate', num.format(f.publishedPerSecond));
  set('fig-delivered-rate', num.format(f.deliveredPerSecond));
  push(series.published, f.publishedPerSecond);
  push(series.delivered, f.deliveredPerSecond);
  push(series.subscribers, f.subscribers);
  drawAll();
}

function push(s, v) {
  s.push(v);
  if (s.length > window5m) s.shift();
}

function drawAll() {
  draw($('chart-published'), series.published, $('max-published'));
  draw($('chart-delivered'), series.delivered, $('max-delivered'));
  draw($('chart-subscribers'), series.subscribers, $('max-subscribers'));
}

// draw plots s as a filled line, newest at the right edge, scaled to its
// maximum. The canvas is sized to its CSS box times the pixel ratio, so
// the line stays sharp.
function draw(canvas, s, label) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, w, h);
  const style = getComputedStyle(canvas);
  const stroke = style.color;
  const grid = style.borderTopColor;
  const top = Math.max(1, ...s) * 1.15;
  label.textContent = s.length ? 'max ' + num.format(Math.max(...s)) : '';

  ctx.strokeStyle = grid;
  ctx.lineWidth = 1;
  for (let i = 1; i < 4; i++) {
    const y = Math.round(h * i / 4) + 0.5;
    ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(w, y); ctx.stroke();
  }
  if (s.length < 2) return;
  const step = w / (Math.min(window5m, Math.max(minSpan, s.length)) - 1);
  const x0 = w - step * (s.length - 1);
  const y = (v) => h - (v / top) * (h - 4 * dpr) - 2 * dpr;
  ctx.beginPath();
  ctx.moveTo(x0, y(s[0]));
  s.forEach((v, i) => ctx.lineTo(x0 + i * step, y(v)));
  ctx.lineWidth = 2 * dpr;
  ctx.strokeStyle = stroke;
  ctx.lineJoin = 'round';
  ctx.stroke();
  ctx.lineTo(w, h); ctx.lineTo(x0, h); ctx.closePath();
  ctx.globalAlpha = 0.15;
  ctx.fillStyle = stroke;
  ctx.fill();
  ctx.globalAlpha = 1;
}

// Off the development defaults the figures need a token whose subscribe
// grant covers /dashboard/events. A Mercure 1.0 access token comes in the
// page's fragment, /dashboard#token=TOKEN, which the browser never sends
// to a server (Mercure 1.0 takes no token in a query string, where logs
// and Referer headers keep it), and goes in an Authorization header; a
// 0.x token still comes as /dashboard?authorization=TOKEN, which the page
// hands on in the stream's query string.
const statsToken = new URLSearchParams(location.hash.slice(1)).get('token');
let stats = null;

function followStats() {
  const es = statsToken ? new HubEventSource(cfg.statsURL, { token: statsToken }) : new EventSource(cfg.statsURL);
  stats = es;
  const statsState = () => {
    // CLOSED: the hub refused the stream (401 or 403) and no reconnection
    // follows.
    $('stats-closed').hidden = showState($('stats-state'), es) !== 'closed';
  };
  es.addEventListener('open', statsState);
  es.addEventListener('error', statsState);
  es.addEventListener('stats', (e) => {
    const f = parseJSON(e.data);
    if (f) showFigures(f);
  });
}
window.addEventListener('resize', drawAll);

// ---- Topic view ----

// A replay from "earliest" can be the whole history the hub keeps, many
// thousands of events in one burst: the view keeps only the last few in
// an array and redraws the list at most once a frame.
const topicView = { es: null, sub: null, lastID: '', count: 0, keep: 20, items: [], drawing: false };

// showTopic follows one matcher of a kind ("match", "match_urlpattern" or
// 0.x's "topic"), from the oldest update the hub keeps.
function showTopic(kind, value, keep, token) {
  topicView.es?.close();
  Object.assign(topicView, { count: 0, keep, items: [], lastID: '' });
  drawTopic();
  // EventSource cannot send a token; HubEventSource can, in an
  // Authorization header, and behaves the same otherwise (the cookie goes
  // along too). It asks for the history with a Last-Event-ID header,
  // EventSource with last_event_id= (0.x: lastEventID=).
  const sub = matcher(kind, value);
  if (token) {
    followTopic(new HubEventSource(cfg.hub, { ...sub, lastEventId: 'earliest', withCredentials: true, token }));
  } else {
    topicView.sub = sub;
    followTopic(open(subscribeURL(cfg.hub, sub, 'earliest')));
  }
}

// followTopic shows the updates es brings in the topic view.
function followTopic(es) {
  topicView.es = es;
  const state = () => showState($('topic-state'), es);
  state();
  es.addEventListener('open', state);
  es.addEventListener('error', state);
  const take = (e) => {
    if (es !== topicView.es) return;
    topicView.lastID = e.lastEventId;
    topicView.count++;
    topicView.items.push({ id: e.lastEventId, type: e.type, data: e.data });
    if (topicView.items.length > 2 * topicView.keep) topicView.items.splice(0, topicView.items.length - topicView.keep);
    if (!topicView.drawing) {
      topicView.drawing = true;
      requestAnimationFrame(drawTopic);
    }
  };
  es.addEventListener('message', take);
  es.addEventListener('note', take);
}

function drawTopic() {
  topicView.drawing = false;
  const items = topicView.items.slice(-topicView.keep);
  set('topic-count', num.format(topicView.count));
  $('topic-events').replaceChildren(...items.reverse().map((it) => {
    const li = el('li', 'event');
    li.dataset.id = it.id;
    const head = el('div', 'event-head');
    const t = el('span', 'type', it.type);
    t.dataset.type = it.type;
    head.append(t, el('span', 'id mono', it.id));
    li.append(head, el('pre', 'data', it.data));
    return li;
  }));
}

$('topic-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = $('topic-input').value.trim();
  const keep = Math.min(1000, Math.max(1, Number($('topic-keep').value) || 20));
  if (value) showTopic($('topic-kind').value, value, keep, $('topic-token').value.trim());
});

// ---- Back/forward cache ----

// The page's EventSources close when it is hidden and reopen when it comes
// back from the back/forward cache: the topic view after its last update
// (it misses none), the figures afresh (they are the hub's state now, not
// a history). Those the hub had closed stay closed. A HubEventSource (with
// a token) does this by itself.
const reopens = [];
whileShown(() => {
  reopens.length = 0;
  if (stats instanceof EventSource && stats.readyState !== EventSource.CLOSED) {
    stats.close();
    reopens.push(followStats);
  }
  const es = topicView.es;
  if (es instanceof EventSource && es.readyState !== EventSource.CLOSED) {
    es.close();
    reopens.push(() => followTopic(open(subscribeURL(cfg.hub, topicView.sub, topicView.lastID || 'earliest'))));
  }
}, () => {
  for (const f of reopens.splice(0)) f();
});

followStats();
showTopic('match', cfg.topic, 20);
