package sse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client defaults, used when the matching field is zero. The default event
// size limit is DefaultMaxEventSize, shared with Decoder.
const (
	DefaultReconnectTime = 3 * time.Second
	DefaultMaxBackoff    = 30 * time.Second

	// minBackoff is the first delay after a failed attempt when a retry
	// field set the reconnection time to 0: reconnecting at once suits an
	// ended stream, not a server that refuses connections.
	minBackoff = 100 * time.Millisecond
)

// State is the ready state of an EventSource, as in the browser's
// EventSource.readyState.
type State int32

// The ready states.
const (
	Connecting State = iota // connecting, or waiting to reconnect
	Open                    // a stream is open and events are dispatched
	Closed                  // for good: the iteration has ended
)

func (s State) String() string {
	switch s {
	case Connecting:
		return "CONNECTING"
	case Open:
		return "OPEN"
	case Closed:
		return "CLOSED"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Client consumes event streams with the semantics of the browser's
// EventSource (WHATWG HTML): it reconnects after a network error or the end
// of the body, honours retry fields and sends Last-Event-ID. Beyond the
// browser it takes any method, headers and body, backs off exponentially on
// consecutive failures, can retry on 5xx and 429, and can detect a dead
// connection by its silence.
//
// Only requests with a safe method (GET, HEAD, OPTIONS, TRACE, as RFC 9110
// section 9.2.1 defines them, and QUERY) reconnect by default. A request with
// any other method (POST, PUT, PATCH, DELETE, …) asks the server to act, as an
// LLM completion or an MCP call does, and is sent once: when its stream ends
// the iteration ends, with an error if it failed (the connection broke, or
// the body ended inside an event). [Client.Resumable] makes such requests
// reconnect too, for servers that resume them from Last-Event-ID.
//
// A completion rule ([Client.DoneData], [Client.DoneType]) names the event
// that completes a stream, so that a stream cut off early ends with an error
// wrapping [ErrIncomplete] rather than looking like success.
// [Client.ErrorType] turns the error events some APIs send after a 200
// response into an [*EventError].
//
// The Authorization, Cookie and Proxy-Authorization headers of the request
// are sent to its origin only: a redirect to another origin, and every
// reconnection to that origin, goes without them.
//
// The zero value is ready to use. A Client may be used concurrently once
// configured.
type Client struct {
	// HTTPClient makes the requests; nil means http.DefaultClient. Its
	// Timeout must be 0 (or longer than any stream): it bounds the whole
	// response, body included.
	HTTPClient *http.Client

	// ReconnectTime is the initial reconnection time, until a retry field
	// changes it. Zero means DefaultReconnectTime.
	ReconnectTime time.Duration

	// MaxBackoff caps the delay between consecutive failed attempts, which
	// doubles from the reconnection time with each failure. Zero means
	// DefaultMaxBackoff.
	MaxBackoff time.Duration

	// MaxAttempts, if positive, is how many attempts in a row may fail
	// before the iteration ends with an error wrapping ErrMaxAttempts and
	// the last failure. An attempt fails when it does not open a stream.
	MaxAttempts int

	// RetryServerErrors makes 5xx and 429 responses retried, after at least
	// their Retry-After delay, instead of ending the iteration as browsers
	// do. Like every retry, it applies only to requests that may be sent
	// again: a safe method, or any with Resumable.
	RetryServerErrors bool

	// IdleTimeout, if positive, is how long a connection may stay silent
	// (heartbeat comments count as traffic) before it is taken for dead and
	// reconnected.
	IdleTimeout time.Duration

	// MaxEventSize bounds lines and events as Decoder.MaxEventSize does.
	// Zero means DefaultMaxEventSize, 16 MiB: room for the tool outputs and
	// base64 images of LLM APIs, while a hostile stream stays bounded.
	MaxEventSize int

	// Resumable makes requests whose method is not safe (POST, PUT, PATCH,
	// DELETE, …) reconnect as GET requests do, sending Last-Event-ID and
	// the body again (from the request's GetBody). Set it only for servers
	// that resume such a stream rather than act on the request twice.
	Resumable bool

	// DoneData and DoneType, if not empty, are the completion rule: an
	// event whose data is DoneData (such as "[DONE]") or whose type is
	// DoneType (such as "message_stop") completes the stream. It is not
	// yielded, and the iteration ends without error. With a completion
	// rule, any other end (the stream ends or fails first, a 204, the
	// context ends) is an error wrapping ErrIncomplete. Requests that
	// reconnect still do so until the completing event arrives.
	DoneData string
	DoneType string

	// ErrorType, if not empty, is the type of the events that report a
	// failure in the stream, such as "error": the first one ends the
	// iteration with an *EventError carrying it, instead of being
	// yielded.
	ErrorType string

	// OnStateChange, if not nil, is called on each change of ready state,
	// from the goroutine iterating the events.
	OnStateChange func(State)

	// OnRetry, if not nil, is called with the reconnection time each retry
	// field sets, in stream order (before the event of the same block is
	// yielded), from the goroutine iterating the events.
	OnRetry func(time.Duration)

	// OnError, if not nil, is called with a *ReconnectError each time a
	// connection ends or fails and another attempt will follow, from the
	// goroutine iterating the events. Fatal errors are not passed to it:
	// the iteration yields them.
	OnError func(error)

	// jitter spreads a backoff delay; nil means a random delay in [d/2, d].
	// Tests replace it to make delays exact.
	jitter func(time.Duration) time.Duration
}

// Events connects with req and returns an iterator over the events of the
// stream, across reconnections. It is c.EventSource(ctx, req).Events().
func (c *Client) Events(ctx context.Context, req *http.Request) iter.Seq2[Event, error] {
	return c.EventSource(ctx, req).Events()
}

// EventSource returns an EventSource for req, to be iterated with Events.
// Nothing is sent until then.
//
// req may use any method, header and body. A request that may be sent again
// (a safe method, or any with Resumable) has its body sent again on every
// reconnection: req.GetBody is used if set (http.NewRequest sets it for
// in-memory bodies), otherwise the body is read into memory first. A request
// sent once is sent as it is. The Cache-Control and Last-Event-ID headers
// are set by the client, and Accept unless req has one (MCP's Streamable
// HTTP requires "application/json, text/event-stream"). Cancelling ctx ends
// everything.
func (c *Client) EventSource(ctx context.Context, req *http.Request) *EventSource {
	es := &EventSource{c: c, ctx: ctx, req: req, url: req.URL, method: req.Method}
	es.lastID = req.Header.Get("Last-Event-ID")
	es.hc = originBound(c.HTTPClient, req.URL)
	return es
}

// originBound returns a copy of hc (or of http.DefaultClient) whose redirects
// to another origin than origin drop the caller's credentials. net/http keeps
// them for the same host name on another port or scheme, and for subdomains.
func originBound(hc *http.Client, origin *url.URL) *http.Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := *hc
	check := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(req.URL, origin) {
			dropCredentials(req.Header)
		}
		if check != nil {
			return check(req, via)
		}
		if len(via) >= 10 { // as net/http's default policy
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// sameOrigin reports whether a and b have the same origin (RFC 6454): scheme,
// host and port, with a missing port meaning the scheme's default.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// dropCredentials removes the headers that carry the caller's credentials,
// the ones net/http strips on a redirect to another domain.
func dropCredentials(h http.Header) {
	for _, k := range []string{"Authorization", "Www-Authenticate", "Cookie", "Cookie2", "Proxy-Authorization", "Proxy-Authenticate"} {
		h.Del(k)
	}
}

// EventSource is one logical event stream: a sequence of connections to
// the same resource that share the last event ID and reconnection time.
type EventSource struct {
	c       *Client
	hc      *http.Client
	ctx     context.Context
	req     *http.Request
	getBody func() (io.ReadCloser, error)
	bodyLen int64
	started atomic.Bool
	state   atomic.Int32

	mu        sync.Mutex // guards what State, LastEventID and URL read
	url       *url.URL   // where the next attempt goes: the last final URL
	method    string
	lastID    string
	reconnect time.Duration
	retrySet  bool // a retry field set reconnect, possibly to 0
}

// State returns the ready state.
func (es *EventSource) State() State { return State(es.state.Load()) }

// LastEventID returns the last event ID, which the next connection sends as
// Last-Event-ID.
func (es *EventSource) LastEventID() string {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.lastID
}

// URL returns the URL the next connection goes to: the request's, or the
// final URL of the last redirected one, as browsers reconnect.
func (es *EventSource) URL() *url.URL {
	es.mu.Lock()
	defer es.mu.Unlock()
	u := *es.url
	return &u
}

// Events returns an iterator over the events of the stream. It connects,
// yields events as they are dispatched, and reconnects as needed. It ends
// without error on a 204 response, when a request sent once ends its stream
// normally, when the completion rule's event arrives, or when the loop stops.
// Otherwise its last element is the fatal error, with a zero Event: a
// *StatusError, a *ContentTypeError, an *EventError, an error wrapping
// ErrMaxAttempts or ErrTooLarge, the failure that ended a stream that is not
// reconnected, or the context's error. With a completion rule every fatal
// error, and a 204, wraps ErrIncomplete. An EventSource can be iterated once.
func (es *EventSource) Events() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if es.started.Swap(true) {
			yield(Event{}, errors.New("sse: EventSource iterated twice"))
			return
		}
		defer es.setState(Closed)
		// The state is CLOSED by the time the caller sees a fatal error, as
		// readyState is when a browser fires its error event.
		fail := func(err error) {
			es.setState(Closed)
			if es.c.DoneData != "" || es.c.DoneType != "" {
				err = fmt.Errorf("%w: %w", ErrIncomplete, err)
			}
			yield(Event{}, err)
		}
		if es.mayResend() {
			if err := es.prepareBody(); err != nil {
				fail(err)
				return
			}
		}
		failures := 0
		for {
			err := es.connect(yield)
			switch {
			case err == errStop || err == errDone:
				return
			case err == errNoContent:
				if es.c.DoneData != "" || es.c.DoneType != "" {
					fail(errors.New("sse: the server answered 204 No Content"))
				}
				return
			case es.ctx.Err() != nil:
				fail(context.Cause(es.ctx))
				return
			}
			opened := errors.Is(err, errOpened)
			if opened {
				err = errors.Unwrap(err)
			}
			if !es.mayResend() {
				// Sent once: the stream's end is the iteration's.
				if err != ErrDisconnected || es.c.DoneData != "" || es.c.DoneType != "" {
					fail(err)
				}
				return
			}
			if !retryable(err, opened, es.c.RetryServerErrors) {
				fail(err)
				return
			}
			var delay time.Duration
			if opened {
				// An open stream ended: browsers wait the reconnection
				// time, exactly.
				failures = 0
				delay = es.reconnectTime()
			} else {
				failures++
				if n := es.c.MaxAttempts; n > 0 && failures >= n {
					fail(fmt.Errorf("%w (%d): %w", ErrMaxAttempts, failures, err))
					return
				}
				delay = es.backoff(failures, err)
			}
			es.setState(Connecting)
			if es.c.OnError != nil {
				es.c.OnError(&ReconnectError{Err: err, Attempt: failures, Delay: delay})
			}
			if !sleep(es.ctx, delay) {
				fail(context.Cause(es.ctx))
				return
			}
		}
	}
}

// mayResend reports whether the request may be sent again: its method (after
// redirects) is safe, or the client was told the server resumes any request.
func (es *EventSource) mayResend() bool {
	if es.c.Resumable {
		return true
	}
	es.mu.Lock()
	m := es.method
	es.mu.Unlock()
	switch m {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		"QUERY": // draft-ietf-httpbis-safe-method-w-body: safe and idempotent
		return true
	}
	return false
}

// Internal outcomes of connect.
var (
	errStop      = errors.New("sse: iteration stopped")
	errDone      = errors.New("sse: completed")
	errNoContent = errors.New("sse: 204 No Content")
	errOpened    = errors.New("sse: opened") // wraps the error that ended an open stream
	// errCutMidEvent is the end of a body that stops inside an event: a
	// failure for a stream that is not reconnected.
	errCutMidEvent = fmt.Errorf("%w in the middle of an event", ErrDisconnected)
)

type openedError struct{ err error }

func (e openedError) Error() string        { return e.err.Error() }
func (e openedError) Unwrap() error        { return e.err }
func (e openedError) Is(target error) bool { return target == errOpened }

// retryable reports whether err, which ended an attempt (that opened a
// stream, if opened), allows another.
func retryable(err error, opened, serverErrors bool) bool {
	if errors.Is(err, ErrErrorEvent) {
		return false
	}
	if opened {
		return !errors.Is(err, ErrTooLarge)
	}
	var se *StatusError
	if errors.As(err, &se) {
		return serverErrors && (se.StatusCode >= 500 || se.StatusCode == http.StatusTooManyRequests)
	}
	return !errors.Is(err, ErrUnexpectedContentType)
}

// connect makes one attempt and, if it opens a stream, yields its events
// until it ends.
func (es *EventSource) connect(yield func(Event, error) bool) error {
	es.setState(Connecting)
	ctx, cancel := context.WithCancelCause(es.ctx)
	defer cancel(nil)
	var idle *time.Timer
	if d := es.c.IdleTimeout; d > 0 {
		idle = time.AfterFunc(d, func() { cancel(ErrIdleTimeout) })
		defer idle.Stop()
	}
	req, err := es.newRequest(ctx)
	if err != nil {
		return err
	}
	resp, err := es.hc.Do(req)
	if err != nil {
		return attemptErr(ctx, err)
	}
	defer resp.Body.Close()
	if err := es.checkResponse(resp); err != nil {
		return err
	}

	es.mu.Lock()
	if resp.Request != nil && resp.Request.URL != nil {
		es.url = resp.Request.URL
		es.method = resp.Request.Method
	}
	lastID := es.lastID
	es.mu.Unlock()

	var body io.Reader = resp.Body
	if idle != nil {
		body = &idleReader{r: resp.Body, t: idle, d: es.c.IdleTimeout}
	}
	dec := NewDecoder(body)
	dec.MaxEventSize = es.c.MaxEventSize
	dec.SetLastEventID(lastID)
	dec.OnRetry = es.setReconnect
	es.setState(Open)
	for {
		e, err := dec.Next()
		// The ID may have changed without an event (an id field in a block
		// without data): keep it for the next connection all the same.
		es.setLastID(dec.LastEventID())
		if err == io.EOF {
			if dec.cutMidEvent {
				return openedError{errCutMidEvent}
			}
			return openedError{ErrDisconnected}
		}
		if err != nil {
			return openedError{attemptErr(ctx, err)}
		}
		select {
		case <-ctx.Done():
			// Events already read are not delivered after a cancel.
			return openedError{attemptErr(ctx, context.Cause(ctx))}
		default:
		}
		if t := es.c.ErrorType; t != "" && e.Type == t {
			return &EventError{Event: e}
		}
		if (es.c.DoneData != "" && e.Data == es.c.DoneData) || (es.c.DoneType != "" && e.Type == es.c.DoneType) {
			return errDone
		}
		if !yield(e, nil) {
			return errStop
		}
	}
}

// attemptErr names the idle timeout when it was the reason err happened.
func attemptErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrIdleTimeout) {
		return ErrIdleTimeout
	}
	return err
}

func (es *EventSource) checkResponse(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNoContent:
		return errNoContent
	default:
		return &StatusError{
			StatusCode: resp.StatusCode,
			Status:     resp.Status,
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/event-stream" {
		return &ContentTypeError{ContentType: ct}
	}
	return nil
}

// prepareBody makes the request body repeatable.
func (es *EventSource) prepareBody() error {
	req := es.req
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	if req.GetBody != nil {
		es.getBody, es.bodyLen = req.GetBody, req.ContentLength
		return nil
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return fmt.Errorf("sse: read request body: %w", err)
	}
	es.getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	es.bodyLen = int64(len(b))
	return nil
}

func (es *EventSource) newRequest(ctx context.Context) (*http.Request, error) {
	es.mu.Lock()
	u, method, lastID := es.url, es.method, es.lastID
	es.mu.Unlock()

	req := es.req.Clone(ctx)
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if u.String() != es.req.URL.String() {
		// After a redirect the caller's Host no longer applies, nor do
		// its credentials if the redirect left its origin.
		req.URL, req.Host = u, ""
		if !sameOrigin(u, es.req.URL) {
			dropCredentials(req.Header)
		}
	}
	// A request sent once keeps its body as given (Clone shares it).
	if es.getBody != nil || method != es.req.Method {
		req.Body, req.GetBody, req.ContentLength = nil, nil, 0
	}
	switch {
	case method != es.req.Method:
		// A redirect turned the request into one without a body (303, or
		// 301/302 after POST): reconnect the way it was redirected.
		req.Method = method
		req.Header.Del("Content-Type")
	case es.getBody != nil:
		body, err := es.getBody()
		if err != nil {
			return nil, fmt.Errorf("sse: request body: %w", err)
		}
		req.Body, req.GetBody, req.ContentLength = body, es.getBody, es.bodyLen
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/event-stream")
	}
	req.Header.Set("Cache-Control", "no-cache")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	} else {
		req.Header.Del("Last-Event-ID")
	}
	return req, nil
}

func (es *EventSource) setState(s State) {
	if State(es.state.Swap(int32(s))) != s && es.c.OnStateChange != nil {
		es.c.OnStateChange(s)
	}
}

func (es *EventSource) setLastID(id string) {
	es.mu.Lock()
	es.lastID = id
	es.mu.Unlock()
}

func (es *EventSource) setReconnect(d time.Duration) {
	es.mu.Lock()
	es.reconnect, es.retrySet = d, true
	es.mu.Unlock()
	if es.c.OnRetry != nil {
		es.c.OnRetry(d)
	}
}

// reconnectTime is the delay after an open stream ended: the last retry
// field's (0 included: reconnect at once), or the client's.
func (es *EventSource) reconnectTime() time.Duration {
	es.mu.Lock()
	d, set := es.reconnect, es.retrySet
	es.mu.Unlock()
	if set {
		return d
	}
	if d := es.c.ReconnectTime; d > 0 {
		return d
	}
	return DefaultReconnectTime
}

// backoff is the delay before the next attempt after n failed ones in a row:
// the reconnection time doubled n-1 times, capped, spread by jitter, and no
// shorter than what the server asked for with Retry-After.
func (es *EventSource) backoff(n int, err error) time.Duration {
	base := es.reconnectTime()
	if base <= 0 {
		base = minBackoff
	}
	ceil := es.c.MaxBackoff
	if ceil <= 0 {
		ceil = DefaultMaxBackoff
	}
	d := min(base, ceil)
	for i := 1; i < n && d < ceil; i++ {
		d = min(2*d, ceil)
	}
	if n > 1 {
		if es.c.jitter != nil {
			d = es.c.jitter(d)
		} else if d > 1 {
			d = d/2 + rand.N(d/2+1)
		}
	}
	var se *StatusError
	if errors.As(err, &se) {
		d = max(d, se.RetryAfter)
	}
	return d
}

// sleep waits d unless ctx ends first, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// idleReader pushes the idle timer back whenever bytes arrive.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.d)
	}
	return n, err
}

// OfType returns the events of seq whose Type is one of types, and all its
// errors.
func OfType(seq iter.Seq2[Event, error], types ...string) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for e, err := range seq {
			if err != nil || slices.Contains(types, e.Type) {
				if !yield(e, err) {
					return
				}
			}
		}
	}
}
