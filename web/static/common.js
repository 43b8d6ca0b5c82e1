// Helpers shared by the pages. No dependencies: the browser's own
// EventSource and fetch do the work, and HubEventSource (/ssehub.js, served
// by the hub too) where a request needs a header.

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
  };
}

// subscribeURL returns the hub's subscription URL for topic selectors,
// optionally asking for history after lastEventID ("earliest": all kept).
export function subscribeURL(hub, topics, lastEventID) {
  const u = new URL(hub, location.href);
  for (const t of topics) u.searchParams.append('topic', t);
  if (lastEventID) u.searchParams.set('lastEventID', lastEventID);
  return u.href;
}

// open starts an EventSource. Credentials go along so that a hub on
// another origin reads the mercureAuthorization cookie it set.
export function open(url) {
  return new EventSource(url, { withCredentials: true });
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
