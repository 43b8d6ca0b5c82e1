// Helpers shared by the pages. No dependencies: the browser's own
// EventSource and fetch do the work, and HubEventSource (/ssehub.js, served
// by the hub too) where a request needs a header.
//
// The pages speak Mercure 1.0. A token they hold (the private panel's, the
// publish form's, one pasted into the dashboard) goes in an Authorization
// header, through HubEventSource or fetch: that works on plain HTTP, as on
// the development defaults' http://localhost:8080, and across sites. The
// browser's own EventSources go with credentials, so that the access token
// cookie the visitor's application set for the hub (HttpOnly: no page can
// set it) goes along. The pages never set that cookie; their hints name
// it as the hub's --access-token-cookie configures it:
// __Secure-mercure_access_token by default, which browsers store only over
// HTTPS and, in Chromium (tested), on http://localhost.
import { mercureURL } from '/ssehub.js';

// config reads the page's configuration from the body's data- attributes.
export function config() {
  const d = document.body.dataset;
  return {
    hub: d.hub,
    topic: d.topic,
    tokenURL: d.tokenUrl,
    statsURL: d.statsUrl,
    canPublish: d.canPublish === 'true',
    crossOrigin: d.crossOrigin === 'true',
    hasHistory: d.hasHistory === 'true',
    privateTopic: d.privateTopic,
    subscribeTokenURL: d.subscribeTokenUrl,
    // The last-event-id of the page's discovery Link: the feed starts
    // after it.
    lastEventID: d.lastEventId,
  };
}

// matcher returns the subscription of one matcher of a kind a form chose:
// "match" (Mercure 1.0 exact topic or *), "match_urlpattern" (1.0 URL
// pattern) or "topic" (0.x exact, * or URI template).
export function matcher(kind, value) {
  switch (kind) {
    case 'match_urlpattern': return { matchURLPattern: value };
    case 'topic': return { topic: value };
    default: return { match: value };
  }
}

// subscribeURL returns the hub's subscription URL for a subscription
// ({match, matchURLPattern, topic}), optionally asking for history after
// lastEventID ("earliest": all kept): last_event_id in Mercure 1.0,
// lastEventID in 0.x.
export function subscribeURL(hub, sub, lastEventID) {
  return mercureURL(hub, { ...sub, lastEventId: lastEventID });
}

// open starts an EventSource. Credentials go along so that a hub on
// another origin reads the access token cookie set for it.
export function open(url) {
  return new EventSource(url, { withCredentials: true });
}

// whileShown keeps a page's streams out of the back/forward cache: close
// runs on pagehide, reopen when a pageshow restores the page from that
// cache. A cached page that kept its EventSources open would still count
// as a subscriber at the hub and hold connections the browser has six of
// per host over HTTP/1.1: enough cached pages, and the next navigation to
// the host waits for ever. (HubEventSource does this by itself.)
export function whileShown(close, reopen) {
  addEventListener('pagehide', close);
  addEventListener('pageshow', (e) => { if (e.persisted) reopen(); });
}

// fetchToken asks one of the page's token endpoints for a token.
export async function fetchToken(url) {
  const r = await fetch(url, { method: 'POST', credentials: 'same-origin' });
  const j = await r.json().catch(() => ({}));
  if (!r.ok || !j.token) throw new Error(j.error || `token: HTTP ${r.status}`);
  return j.token;
}

const stateNames = ['connecting', 'open', 'closed'];

// showState writes an EventSource's readyState into el as a word.
export function showState(el, es) {
  const s = es ? stateNames[es.readyState] : 'closed';
  el.textContent = s;
  el.dataset.state = s;
  return s;
}

// el makes an element with a class and text.
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// trim removes the oldest children of list (the last ones, as lists show
// newest first) beyond max.
export function trim(list, max) {
  while (list.children.length > max) list.lastElementChild.remove();
}

// formatTime shows an RFC 3339 timestamp as local time with milliseconds.
export function formatTime(s) {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s;
  return d.toLocaleTimeString(undefined, { hour12: false }) + '.' +
    String(d.getMilliseconds()).padStart(3, '0');
}

// parseJSON returns the parsed value, or undefined for text that is not JSON.
export function parseJSON(s) {
  try { return JSON.parse(s); } catch { return undefined; }
}
