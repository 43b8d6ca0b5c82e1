package mercure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/flushpool"
	"github.com/ssehub/ssehub/internal/hijack"
	"github.com/ssehub/ssehub/sse"
)

// maxLastEventIDLen bounds the resume ID a subscriber may send: the
// longest ID the hub accepts on publish, so that every update can be
// resumed from.
const maxLastEventIDLen = hub.MaxIDLen

// methodQuery is the HTTP QUERY method (RFC 10008): a safe request with a
// body, which Mercure 1.0 lets carry the subscription's parameters.
const methodQuery = "QUERY"

// subscribeParams are a subscription request's parameters: the query's,
// then, for QUERY, the form body's.
type subscribeParams struct {
	all   url.Values // the union of both
	query url.Values // the query string's alone
}

// readSubscribeParams parses the query string and a QUERY request's form
// body. Mercure 1.0 ("Subscription") takes their union.
func (h *Handler) readSubscribeParams(w http.ResponseWriter, r *http.Request) (subscribeParams, error) {
	q, qerr := url.ParseQuery(r.URL.RawQuery)
	p := subscribeParams{all: url.Values{}, query: q}
	for k, vs := range q {
		p.all[k] = slices.Clone(vs)
	}
	if r.Method == methodQuery {
		body, err := h.readForm(w, r)
		if err != nil {
			return p, err
		}
		for k, vs := range body {
			p.all[k] = append(p.all[k], vs...)
		}
	}
	if qerr != nil {
		// Kept for the dialect to judge: 0.x reads what parses, as it
		// always has; 1.0 wants the whole query.
		return p, badField("query", "malformed: %v", qerr)
	}
	return p, nil
}

// readForm reads a request's application/x-www-form-urlencoded body, bounded
// by MaxBodyBytes and the body read timeout. An empty body is an empty form.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	const formType = "application/x-www-form-urlencoded"
	if r.Method == methodQuery && r.ContentLength == 0 {
		return url.Values{}, nil // a QUERY may carry everything in its URL
	}
	// The exact type, as every client sends it, needs no parsing.
	if ct := r.Header.Get("Content-Type"); ct != formType {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != formType {
			return nil, badField("Content-Type", "must be %s, got %q", formType, ct)
		}
	}
	h.setBodyDeadline(w)
	r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, err
		}
		return nil, badField("body", "cannot be read: %v", err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badField("body", "malformed form: %v", err)
	}
	return form, nil
}

// writeBodyError answers a failure of readForm.
func (h *Handler) writeBodyError(w http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes", mbe.Limit))
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestTimeout, fmt.Sprintf("body: not received within %v", h.bodyTimeout))
	default:
		writeError(w, http.StatusBadRequest, err.Error())
	}
}

// isMatchName reports whether a parameter name is in Mercure 1.0's
// reserved match namespace: "match" followed by anything, in any case.
func isMatchName(name string) bool {
	return len(name) >= len("match") && strings.EqualFold(name[:len("match")], "match")
}

// subscribeDialect picks a subscription request's dialect from its
// parameters, or, when it has none of either, from its token.
func (h *Handler) subscribeDialect(r *http.Request, p url.Values) (dialect, error) {
	if h.only1 {
		return dialect1, nil
	}
	_, has0 := p["topic"]
	has1 := false
	for name := range p {
		if isMatchName(name) {
			has1 = true
			break
		}
	}
	switch {
	case has0 && has1:
		return 0, badField("topic", "Mercure 0.x's topic= cannot be mixed with Mercure 1.0's match parameters in one request")
	case has0:
		return dialect0, nil
	case has1:
		return dialect1, nil
	}
	// No selector at all, a 400 either way; a token says which answer.
	if t, err := h.findToken(r, dialect1); err == nil && t.hdr.access {
		return dialect1, nil
	}
	return dialect0, nil
}

// subscribe answers GET, HEAD and QUERY on /.well-known/mercure. It
// returns the stream to wait on, or nil once the request is answered.
func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) *liveSub {
	p, perr := h.readSubscribeParams(w, r)
	var fe *fieldError
	if perr != nil && !(errors.As(perr, &fe) && fe.Field == "query") {
		h.writeBodyError(w, perr)
		return nil
	}
	d, err := h.subscribeDialect(r, p.all)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil
	}
	var (
		sr subRequest
		ok bool
	)
	if d == dialect1 {
		if perr != nil {
			writeError(w, http.StatusBadRequest, perr.Error())
			return nil
		}
		sr, ok = h.subscription1(w, r, p)
	} else {
		sr, ok = h.subscription0(w, r, p.all)
	}
	if !ok {
		return nil
	}
	return h.serveSubscription(w, r, sr)
}

// subRequest is a subscription request read and authorized.
type subRequest struct {
	d      dialect
	sub    hub.Subscription
	claims *Claims
	topics []string // as announced by subscription events
	resume bool     // a resume ID was sent, even an empty one
}

// subscription0 reads a Mercure 0.x subscription request.
func (h *Handler) subscription0(w http.ResponseWriter, r *http.Request, q url.Values) (subRequest, bool) {
	topics := q["topic"]
	switch {
	case len(topics) == 0:
		writeError(w, http.StatusBadRequest, "topic: missing: at least one topic selector is required (topic= in Mercure 0.x, match= or match_urlpattern= in Mercure 1.0)")
		return subRequest{}, false
	case len(topics) > h.maxTopics:
		writeError(w, http.StatusBadRequest, badField("topic", "%d given, at most %d allowed", len(topics), h.maxTopics).Error())
		return subRequest{}, false
	}
	for _, t := range topics {
		if t == "" {
			writeError(w, http.StatusBadRequest, "topic: must not be empty")
			return subRequest{}, false
		}
	}
	lastID, err := lastEventID(r, q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return subRequest{}, false
	}
	claims, err := h.authorizeSubscriber(r)
	if err != nil {
		h.authError(w, r, dialect0, err)
		return subRequest{}, false
	}
	return subRequest{
		d:      dialect0,
		sub:    hub.Subscription{Topics: topics, Authorized: claims.Subscribe, LastEventID: lastID},
		claims: claims,
		topics: topics,
	}, true
}

// subscription1 reads a Mercure 1.0 subscription request
// (draft-dunglas-mercure-08, "Subscription"). The token is judged first:
// a bad one is a 401 even on a hub that lets anonymous subscribers in.
func (h *Handler) subscription1(w http.ResponseWriter, r *http.Request, p subscribeParams) (subRequest, bool) {
	claims := &Claims{access: true}
	t, err := h.findToken(r, dialect1)
	switch {
	case errors.Is(err, errNoToken) && h.anonymous:
	case err == nil:
		if err = h.checkTokenDialect(t, dialect1); err == nil {
			claims, err = h.verifyAccess(r, t, false)
		}
	}
	if err != nil && !(errors.Is(err, errNoToken) && h.anonymous) {
		h.authError(w, r, dialect1, err)
		return subRequest{}, false
	}
	sels, err := h.parseMatchers(p.all)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return subRequest{}, false
	}
	lastID, err := lastEventID1(r, p)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return subRequest{}, false
	}
	topics := make([]string, len(sels))
	for i, s := range sels {
		topics[i] = s.Text
	}
	_, resume := r.Header["Last-Event-Id"]
	return subRequest{
		d:      dialect1,
		sub:    hub.Subscription{Selectors: sels, Grants: claims.subGrants, LastEventID: lastID},
		claims: claims,
		topics: topics,
		resume: resume || p.all.Has("last_event_id"),
	}, true
}

// parseMatchers reads the match parameters of a Mercure 1.0 subscription:
// match and match_exact for exact topics, match_urlpattern for URL
// patterns. Names are case-sensitive, and any other name of the match
// namespace is refused rather than ignored.
func (h *Handler) parseMatchers(p url.Values) ([]hub.Selector, error) {
	names := make([]string, 0, 2)
	for name := range p {
		if isMatchName(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names) // the same request, the same error
	var sels []hub.Selector
	for _, name := range names {
		syntax, ok := hub.SyntaxExact, true
		switch name {
		case "match", "match_exact":
		case "match_urlpattern":
			syntax = hub.SyntaxURLPattern
		default:
			ok = false
		}
		if !ok {
			return nil, badField(name, "not a matcher of this hub: use match (or match_exact) or match_urlpattern; names are case-sensitive")
		}
		for _, v := range p[name] {
			if v == "" {
				return nil, badField(name, "must not be empty")
			}
			sel := hub.Selector{Syntax: syntax, Text: v}
			if err := checkMatcher(sel, h.hub.CheckSelector); err != nil {
				return nil, badField(name, "%q: %v", truncate(v, 64), err)
			}
			sels = append(sels, sel)
		}
	}
	switch {
	case len(sels) == 0:
		hint := ""
		if h.only1 && p.Has("topic") {
			hint = "; topic= is Mercure 0.x, which this hub no longer speaks"
		}
		return nil, badField("match", "missing: at least one match or match_urlpattern parameter is required%s", hint)
	case len(sels) > h.maxTopics:
		return nil, badField("match", "%d matchers given, at most %d allowed", len(sels), h.maxTopics)
	}
	return sels, nil
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// serveSubscription subscribes and sets up the stream, which its wait
// method streams until the client leaves, the token expires or the hub
// closes; for HEAD, it answers with the head of that stream. It returns
// nil once the request is answered.
func (h *Handler) serveSubscription(w http.ResponseWriter, r *http.Request, sr subRequest) *liveSub {
	claims, topics := sr.claims, sr.topics
	release, refused := h.limits.acquire(clientAddr(r, h.trusted), topics)
	if refused != nil {
		h.refuseSubscription(w, refused)
		return nil
	}
	ctx := r.Context()
	s, err := h.hub.Subscribe(ctx, sr.sub)
	if err != nil {
		release()
		h.subscribeFailed(w, r, err)
		return nil
	}
	if sr.d == dialect1 {
		// Mercure 1.0, "Reconnection": the field is sent when the request
		// asked to resume, and says from where it does.
		if sr.resume {
			w.Header().Set("Mercure-Last-Event-ID", s.LastEventID())
		}
	} else if id := s.LastEventID(); id == hub.EarliestID || (id != "" && hub.ValidateID(id) == nil) {
		// An ID stored before the hub's ID rule (hub.ValidateID) may be
		// one no header can carry; such a header makes clients fail or
		// loop, so it is left out.
		w.Header().Set("Last-Event-ID", id)
	}
	if r.Method == http.MethodHead {
		// RFC 9110, section 9.3.2: the header fields a GET would send,
		// the resume field above included (Mercure 1.0, "Reconnection"),
		// which is why the subscription was made; no stream.
		s.Close()
		release()
		sse.SetHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if !h.noHijack && hijack.Supported(r) && h.serveTakenOver(w, r, s, sr, release) {
		return nil
	}
	l := &liveSub{h: h, r: r, s: s, release: release}
	st, err := sse.NewStream(w, r, sse.StreamOptions{Heartbeat: h.heartbeat, WriteTimeout: h.writeTimeout})
	if err != nil {
		l.close()
		h.log.ErrorContext(ctx, "mercure: cannot stream", "err", err)
		writeError(w, http.StatusInternalServerError, "this server cannot stream responses")
		return nil
	}
	l.st = st
	// A comment first, at once, so that the headers travel with a body:
	// an HTTP/2 or HTTP/3 proxy may hold the headers until the first
	// DATA frame, and Mercure 1.0 ("Subscription") asks for it on every
	// stream. The taken-over streams do the same (internal/hijack).
	if err := st.Comment(""); err != nil {
		l.close()
		return nil
	}
	if h.onSubChange != nil {
		h.onSubChange(r.ProtoMajor, 1)
		l.counted = true
	}
	if h.subsEnabled {
		l.untrack = h.track(ctx, sr)
	}

	// The stream's context ends when the client hangs up and also when a
	// write fails or times out, so the subscriber stops then too, with no
	// goroutine per subscriber watching for it.
	l.runCtx = st.Context()
	if !claims.exp.IsZero() {
		// A token must not buy a connection that outlives it.
		l.runCtx, l.cancelExp = context.WithDeadline(l.runCtx, claims.exp)
	}
	return l
}

// liveSub is a subscriber streamed through net/http's ResponseWriter
// (HTTP/2, HTTP/3, or HTTP/1.1 with NoHijack), set up and waiting for
// wait, and what its end undoes.
//
// ServeHTTP calls wait once the frames that set the stream up have
// returned: the handler goroutine then blocks for the stream's life on
// about 1.5 KiB of frames (net/http's, the mux's, ServeHTTP, wait and the
// pool's Serve), under a quarter of the 8 KiB stack that setting up grew,
// so each garbage collection that finds it waiting halves the stack.
// Waiting under subscribe and serveSubscription (1.5 KiB more) kept 8 KiB:
// at 10,000 idle HTTP/2 streams, the hub's stacks were 8.4 KiB per stream
// once connected, 6.7 KiB with this (runtime.MemStats.StackInuse of the
// hub during bench/tls.sh's idle HTTP/2 scenario, sse bench --http2
// --mode idle -c 10000).
type liveSub struct {
	h         *Handler
	r         *http.Request
	s         *hub.Subscriber
	st        *sse.Stream // nil until made
	release   func()
	runCtx    context.Context
	cancelExp context.CancelFunc // nil without a token expiry
	untrack   func()             // nil unless the subscription is tracked
	counted   bool               // onSubChange was told of it
	ps        flushpool.Stream
}

// wait streams l until the client leaves, the token expires or the hub
// closes, then undoes the subscription. The handler goroutine only waits
// in it: the hub's events are written by the pool's workers (see
// internal/flushpool).
func (l *liveSub) wait() {
	defer l.close()
	err := l.s.Replay(l.runCtx, l.st)
	if err == nil {
		err = l.h.flushers.Serve(l.runCtx, &l.ps, l.s, l.st)
	}
	if l.runCtx.Err() != nil || errors.Is(err, hub.ErrUnsubscribed) {
		return // the client left, the token expired, or Close
	}
	l.ended(err)
}

// ended logs why l ended early, err. A failure of the hub rather than of
// the client aborts the response.
func (l *liveSub) ended(err error) {
	ctx, log := l.r.Context(), l.h.log
	switch {
	case err == nil:
	case errors.Is(err, hub.ErrClosed):
		log.DebugContext(ctx, "mercure: subscriber ended by shutdown")
	case errors.Is(err, hub.ErrSlowSubscriber):
		log.WarnContext(ctx, "mercure: subscriber disconnected: too slow", "remote", l.r.RemoteAddr, "err", err)
	default:
		if l.st.Err() == nil {
			log.WarnContext(ctx, "mercure: subscriber ended", "remote", l.r.RemoteAddr, "err", err)
			// The hub failed (reading the history), not the client: end
			// the response as broken rather than as a clean end of stream
			// (HTTP/1.1: no last chunk; HTTP/2: RST_STREAM), so the client
			// sees the failure and reconnects, and then gets a status.
			panic(http.ErrAbortHandler)
		}
	}
}

// close undoes what serveSubscription set up, in the reverse order.
func (l *liveSub) close() {
	if l.cancelExp != nil {
		l.cancelExp()
	}
	if l.untrack != nil {
		l.untrack()
	}
	if l.counted {
		l.h.onSubChange(l.r.ProtoMajor, -1)
	}
	if l.st != nil {
		l.st.Close()
	}
	l.s.Close()
	l.release()
}

// subscribeFailed answers a Subscribe error before any byte was streamed.
func (h *Handler) subscribeFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client is gone; nobody reads the answer.
		return
	case errors.Is(err, hub.ErrInvalidSubscription):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, hub.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "the hub is shutting down")
	case errors.Is(err, hub.ErrTooManySelectors):
		h.refuseSubscription(w, &refusal{http.StatusServiceUnavailable,
			"topic: the hub holds as many distinct topic selectors as it allows: retry later"})
	case errors.Is(err, hub.ErrHistoryUnavailable):
		// No Retry-After: the log needs repair, which retrying does not do.
		writeError(w, http.StatusServiceUnavailable, "Last-Event-ID: the hub cannot replay its history, which is corrupt; subscribe without Last-Event-ID for live updates")
	default:
		h.log.ErrorContext(r.Context(), "mercure: subscribe failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot subscribe: "+err.Error())
	}
}

// lastEventID returns the ID a Mercure 0.x subscriber resumes from: the
// Last-Event-ID header, else the lastEventID query parameter, else the
// Last-Event-ID query parameter of earlier drafts, which Mercure 0.x still
// reads; "" for none.
func lastEventID(r *http.Request, q url.Values) (string, error) {
	field, id := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if id == "" {
		field, id = "lastEventID", q.Get("lastEventID")
		if id == "" {
			field, id = "Last-Event-ID", q.Get("Last-Event-ID")
		}
	}
	return id, checkLastEventID(field, id)
}

// lastEventID1 returns the ID a Mercure 1.0 subscriber resumes from
// ("Reconnection"): the Last-Event-ID header wins, then last_event_id of
// the query string, then of a QUERY body.
func lastEventID1(r *http.Request, p subscribeParams) (string, error) {
	field, id := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if _, ok := r.Header["Last-Event-Id"]; !ok {
		field = "last_event_id"
		if vs, ok := p.query["last_event_id"]; ok {
			id = vs[0]
		} else {
			id = p.all.Get("last_event_id")
		}
	}
	return id, checkLastEventID(field, id)
}

func checkLastEventID(field, id string) error {
	if len(id) > maxLastEventIDLen {
		return badField(field, "longer than %d bytes", maxLastEventIDLen)
	}
	if strings.ContainsAny(id, "\r\n\x00") {
		return badField(field, "must not contain CR, LF or NUL")
	}
	return nil
}

// authorizeSubscriber returns a Mercure 0.x subscriber's claims: empty ones
// for an anonymous subscriber when those are allowed.
func (h *Handler) authorizeSubscriber(r *http.Request) (*Claims, error) {
	t, err := h.findToken(r, dialect0)
	switch {
	case errors.Is(err, errNoToken) && h.anonymous:
		return &Claims{}, nil
	case err != nil:
		return nil, err
	case h.sub == nil:
		return nil, fmt.Errorf("%w: this hub has no subscriber key to verify tokens with", errInvalidToken)
	}
	if err := h.checkTokenDialect(t, dialect0); err != nil {
		return nil, err
	}
	return h.sub.verify(r.Context(), t.raw)
}

// serveTakenOver streams s on w's connection taken over from net/http by
// the handler's stream engine, and reports whether it did: false means
// nothing was written and the caller streams through net/http. From then
// on the stream owns release and s.
func (h *Handler) serveTakenOver(w http.ResponseWriter, r *http.Request, s *hub.Subscriber, sr subRequest, release func()) bool {
	t := &takenOver{sub: s, h: h, release: release, remote: r.RemoteAddr}
	ctx := r.Context()
	return h.streams.Serve(w, r, &t.Stream, t, hijack.Options{
		Heartbeat:    h.heartbeat,
		WriteTimeout: h.writeTimeout,
		SendBuffer:   h.sendBuffer,
		// A token must not buy a connection that outlives it.
		Expires: sr.claims.exp,
		Started: func() {
			if h.onSubChange != nil {
				h.onSubChange(1, 1) // taken over: HTTP/1.x only
			}
			if h.subsEnabled {
				t.untrack = h.track(ctx, sr)
			}
		},
	})
}

// takenOver is a subscriber streamed on a connection taken over by the
// handler's engine: the engine's state of the stream and what the handler
// undoes when it ends, in one allocation.
type takenOver struct {
	hijack.Stream
	sub     *hub.Subscriber
	h       *Handler
	release func()
	untrack func() // nil unless the subscription is tracked
	remote  string
}

func (t *takenOver) Replay(ctx context.Context, w io.Writer) error { return t.sub.Replay(ctx, w) }
func (t *takenOver) Attach(ready func())                           { t.sub.Attach(ready) }
func (t *takenOver) Drain(dst []byte, limit int) ([]byte, error)   { return t.sub.Drain(dst, limit) }

// Ended does what the defers of subscribe do on the net/http path.
func (t *takenOver) Ended(err error) {
	t.sub.Close()
	t.release()
	if t.h.onSubChange != nil {
		t.h.onSubChange(1, -1)
	}
	if t.untrack != nil {
		// It publishes: a pool worker must not wait for the log.
		go t.untrack()
	}
	ctx := context.Background()
	switch {
	case errors.Is(err, hub.ErrClosed):
		t.h.log.DebugContext(ctx, "mercure: subscriber ended by shutdown")
	case errors.Is(err, hub.ErrSlowSubscriber):
		t.h.log.WarnContext(ctx, "mercure: subscriber disconnected: too slow", "remote", t.remote, "err", err)
	case errors.Is(err, hub.ErrCorrupt):
		t.h.log.WarnContext(ctx, "mercure: subscriber ended: the history is corrupt", "remote", t.remote, "err", err)
	default:
		t.h.log.DebugContext(ctx, "mercure: subscriber ended", "remote", t.remote, "err", err)
	}
}
