// Types of ssehub.js, the browser client ssehub serves at /ssehub.js.
// Editors read them when this file sits beside the module, or with
// `/// <reference path="ssehub.d.ts" />`.

/** One dispatched event, as the WHATWG "dispatch the event" steps make it. */
export interface ParsedEvent {
  /** The event type: "message" unless the event named one. */
  type: string;
  /** The data lines, joined with LF. */
  data: string;
  /** The last event ID at dispatch: EventSource's lastEventId. */
  id: string;
}

export interface ParserCallbacks {
  onEvent?(event: ParsedEvent): void;
  /** A valid retry field set the reconnection time, in ms. */
  onRetry?(ms: number): void;
  /** A comment line, with the text after its colon. */
  onComment?(comment: string): void;
  /** The last event ID before the stream, as a resumed connection sent it. */
  lastEventId?: string;
  /**
   * The bound, in bytes, on any one line and on the data of any one event
   * (the Go parser's MaxEventSize); 0 or absent means DEFAULT_MAX_EVENT_SIZE.
   */
  maxEventSize?: number;
}

/** The parser's maxEventSize by default: 16 MiB, as sse.DefaultMaxEventSize. */
export const DEFAULT_MAX_EVENT_SIZE: number;

/** Thrown by Parser.feed when a line or an event's data exceeds maxEventSize (the Go parser's sse.ErrTooLarge). */
export class EventTooLargeError extends Error {
  constructor(what: 'line' | 'data', limit: number);
  readonly name: 'EventTooLargeError';
  /** Which bound was exceeded. */
  readonly what: 'line' | 'data';
  /** The maxEventSize. */
  readonly limit: number;
}

export interface Parser {
  /**
   * Interprets the next part of the stream: raw body bytes, or text. Throws
   * an EventTooLargeError, after dispatching the events before the bound was
   * exceeded, and the same error on every later call until reset().
   */
  feed(chunk: Uint8Array | string): void;
  /** Starts a new stream: pending input is dropped, a BOM is dropped again; the last event ID is kept. */
  reset(): void;
  /** The last event ID as of the most recent blank line. */
  readonly lastEventId: string;
}

/** A parser of a text/event-stream body, to the WHATWG rules and those of the Go parser in package sse. */
export function createParser(callbacks?: ParserCallbacks): Parser;

/** The matchers of a Mercure subscription and where it starts. */
export interface MercureSubscription {
  /** Mercure 1.0 exact topic matchers (match=). */
  match?: string | string[];
  /** Mercure 1.0 URL Pattern matchers (match_urlpattern=). */
  matchURLPattern?: string | string[];
  /** Mercure 0.x topic selectors (topic=); never with match or matchURLPattern. */
  topic?: string | string[];
  /** The event ID to start after ("earliest": all the hub keeps). */
  lastEventId?: string;
}

/**
 * The URL of a subscription for the browser's EventSource: the matchers as
 * query parameters and lastEventId as last_event_id (Mercure 1.0) or
 * lastEventID (0.x topics). Throws a TypeError when topic is mixed with
 * match or matchURLPattern.
 */
export function mercureURL(hub: string | URL, subscription?: MercureSubscription): string;

/** A hub a resource advertises: a Link with rel="mercure" (Mercure 1.0, "Hub Discovery"). */
export interface MercureLink {
  /** The hub's URL, resolved against the resource's. */
  href: string;
  /** The last-event-id attribute, to start after; '' when absent. */
  lastEventId: string;
  /** The event type of the updates; '' when absent ("message"). */
  type: string;
  /** The content type of the updates; '' when absent (the resource's). */
  contentType: string;
}

/**
 * The hubs a Link field value advertises, in order, read with RFC 8288's
 * syntax (several links, quoted strings and their escapes, any case).
 * base resolves relative hub URLs: the resource's URL (the page's by
 * default).
 */
export function mercureLinks(value: string | null, base?: string | URL): MercureLink[];

export interface HubEventSourceInit {
  /** Send cookies to another origin, as EventSource's option. */
  withCredentials?: boolean;
  /** Extra request headers. */
  headers?: HeadersInit;
  /**
   * A bearer token, or a function returning one (or a promise of one). A
   * function is called before the first request and again when the hub
   * answers 401 with error="invalid_token"; the stream then continues from
   * its last event ID. A function that throws is called again after the
   * backoff, as a failed connection is retried.
   */
  token?: string | ((why: 'initial' | 'invalid_token') => string | Promise<string>);
  /** "GET" (the default) or "QUERY"; a method that is not idempotent is never sent again automatically. */
  method?: string;
  /** The request body (not with GET). With QUERY, a form the match options are added to. */
  body?: BodyInit;
  /** Mercure 1.0 exact topic matchers (match=). */
  match?: string | string[];
  /** Mercure 1.0 URL Pattern matchers (match_urlpattern=). */
  matchURLPattern?: string | string[];
  /** Mercure 0.x topic selectors (topic=); mixing them with match or matchURLPattern throws a TypeError. */
  topic?: string | string[];
  /** The event ID to resume after, sent as Last-Event-ID. */
  lastEventId?: string;
  /** Keep the last event ID in sessionStorage (under this key, or one made from the request) so a reload resumes. */
  persist?: boolean | string;
  /** The reconnection time until the stream sets one, in ms (3000). */
  retry?: number;
  /** The cap on the backoff, in ms (60000). */
  maxRetry?: number;
  /** Reconnect when nothing, not even a heartbeat comment, arrived for this long, in ms; 0 (the default) never. */
  idleTimeout?: number;
  /** The spread of reconnections when the network returns or the tab shows, in ms (1000). */
  wakeJitter?: number;
  /** Wait until a hidden tab shows before reconnecting (true). */
  pauseWhenHidden?: boolean;
  /**
   * Drop the connection when the page is hidden for the back/forward cache
   * (pagehide) and make a new one, with Last-Event-ID, when it is restored
   * from it (a persisted pageshow) (true).
   */
  pauseOnPageHide?: boolean;
  /**
   * The bound on a line and on an event's data, in bytes (16 MiB). A stream
   * that exceeds it fails the connection (readyState CLOSED, an error event
   * of reason 'too-large' whose error is the EventTooLargeError): a
   * reconnection would get the same event again.
   */
  maxEventSize?: number;
  /** The fetch function to use (globalThis.fetch). */
  fetch?: typeof fetch;
}

/** Why a HubEventSource fired error. */
export type HubErrorReason = 'network' | 'status' | 'content-type' | 'ended' | 'token' | 'method' | 'idle' | 'too-large';

export class HubErrorEvent extends Event {
  constructor(reason: HubErrorReason, status?: number, error?: unknown);
  readonly reason: HubErrorReason;
  /** The response's status, 0 when there was none. */
  readonly status: number;
  readonly error: unknown;
}

interface HubEventSourceEventMap {
  open: Event;
  message: MessageEvent<string>;
  error: HubErrorEvent;
}

/** A drop-in for EventSource that reads the stream with fetch. */
export class HubEventSource extends EventTarget {
  constructor(url: string | URL, init?: HubEventSourceInit);
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSED: 2;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSED: 2;
  /** The request URL, with the match parameters of a GET. */
  readonly url: string;
  readonly withCredentials: boolean;
  readonly readyState: 0 | 1 | 2;
  /** The last event ID, sent as Last-Event-ID on the next connection. */
  readonly lastEventId: string;
  /**
   * Where the hub says the current stream starts: the response's
   * Mercure-Last-Event-ID (Mercure 1.0, sent when the request asked to
   * resume) or Last-Event-ID (0.x): the ID of the event before the first one
   * sent, or "earliest"; "" when there was neither. A value other than the
   * ID asked for means updates may have been lost.
   */
  readonly mercureLastEventId: string;
  onopen: ((this: HubEventSource, ev: Event) => any) | null;
  onmessage: ((this: HubEventSource, ev: MessageEvent<string>) => any) | null;
  onerror: ((this: HubEventSource, ev: HubErrorEvent) => any) | null;
  /** Stops the source: aborts the request and never makes another. */
  close(): void;
  addEventListener<K extends keyof HubEventSourceEventMap>(type: K, listener: (this: HubEventSource, ev: HubEventSourceEventMap[K]) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: (this: HubEventSource, ev: MessageEvent<string>) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof HubEventSourceEventMap>(type: K, listener: (this: HubEventSource, ev: HubEventSourceEventMap[K]) => any, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void;
}
