package mercure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/hijack"
	"github.com/ssehub/ssehub/sse"
)

// maxLastEventIDLen bounds the resume ID a subscriber may send: the
// longest ID the hub accepts on publish, so that every update can be
// resumed from.
const maxLastEventIDLen = hub.MaxIDLen

// subscribe answers GET /.well-known/mercure.
func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	topics := q["topic"]
	switch {
	case len(topics) == 0:
		writeError(w, http.StatusBadRequest, "topic: missing: at least one topic selector is required")
		return
	case len(topics) > h.maxTopics:
		writeError(w, http.StatusBadRequest, badField("topic", "%d given, at most %d allowed", len(topics), h.maxTopics).Error())
		return
	}
	for _, t := range topics {
		if t == "" {
			writeError(w, http.StatusBadRequest, "topic: must not be empty")
			return
		}
	}
	lastID, err := lastEventID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	claims, err := h.authorizeSubscriber(r)
	if err != nil {
		writeAuthError(w, err)
		return
	}

	release, refused := h.limits.acquire(clientAddr(r, h.trusted), topics)
	if refused != nil {
		h.refuseSubscription(w, refused)
		return
	}
	ctx := r.Context()
	s, err := h.hub.Subscribe(ctx, hub.Subscription{Topics: topics, Authorized: claims.Subscribe, LastEventID: lastID})
	if err != nil {
		release()
		h.subscribeFailed(w, r, err)
		return
	}
	// An ID stored before the hub's ID rule (hub.ValidateID) may be one no
	// header can carry; such a header makes clients fail or loop, so it is
	// left out.
	if id := s.LastEventID(); id == hub.EarliestID || (id != "" && hub.ValidateID(id) == nil) {
		w.Header().Set("Last-Event-ID", id)
	}
	if !h.noHijack && hijack.Supported(r) && h.serveTakenOver(w, r, s, topics, claims, release) {
		return
	}
	defer release()
	defer s.Close()
	st, err := sse.NewStream(w, r, sse.StreamOptions{Heartbeat: h.heartbeat, WriteTimeout: h.writeTimeout})
	if err != nil {
		h.log.ErrorContext(ctx, "mercure: cannot stream", "err", err)
		writeError(w, http.StatusInternalServerError, "this server cannot stream responses")
		return
	}
	defer st.Close()
	if r.ProtoMajor >= 2 {
		// A comment first, so that the headers travel with a DATA frame:
		// an HTTP/2 or HTTP/3 proxy may hold the headers until the first.
		// (HTTP/1.1 proxies pass a flushed header on.)
		if err := st.Comment(""); err != nil {
			return
		}
	}
	if h.onSubChange != nil {
		h.onSubChange(r.ProtoMajor, 1)
		defer h.onSubChange(r.ProtoMajor, -1)
	}
	if h.subsEnabled {
		defer h.track(ctx, topics, claims)()
	}

	// The stream's context ends when the client hangs up and also when a
	// write fails or times out, so the subscriber stops then too, with no
	// goroutine per subscriber watching for it.
	runCtx := st.Context()
	if !claims.exp.IsZero() {
		// A token must not buy a connection that outlives it.
		var cancelExp context.CancelFunc
		runCtx, cancelExp = context.WithDeadline(runCtx, claims.exp)
		defer cancelExp()
	}
	switch err := s.Run(runCtx, st); {
	case err == nil:
	case errors.Is(err, hub.ErrClosed):
		h.log.DebugContext(ctx, "mercure: subscriber ended by shutdown")
	case errors.Is(err, hub.ErrSlowSubscriber):
		h.log.WarnContext(ctx, "mercure: subscriber disconnected: too slow", "remote", r.RemoteAddr, "err", err)
	default:
		if st.Err() == nil {
			h.log.WarnContext(ctx, "mercure: subscriber ended", "remote", r.RemoteAddr, "err", err)
			// The hub failed (reading the history), not the client: end
			// the response as broken rather than as a clean end of stream
			// (HTTP/1.1: no last chunk; HTTP/2: RST_STREAM), so the client
			// sees the failure and reconnects, and then gets a status.
			panic(http.ErrAbortHandler)
		}
	}
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

// lastEventID returns the ID a subscriber resumes from: the Last-Event-ID
// header, else the lastEventID query parameter, else the Last-Event-ID
// query parameter of earlier drafts, which Mercure 0.x still reads; "" for
// none.
func lastEventID(r *http.Request) (string, error) {
	field, id := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if id == "" {
		q := r.URL.Query()
		field, id = "lastEventID", q.Get("lastEventID")
		if id == "" {
			field, id = "Last-Event-ID", q.Get("Last-Event-ID")
		}
	}
	if len(id) > maxLastEventIDLen {
		return "", badField(field, "longer than %d bytes", maxLastEventIDLen)
	}
	if strings.ContainsAny(id, "\r\n\x00") {
		return "", badField(field, "must not contain CR, LF or NUL")
	}
	return id, nil
}

// authorizeSubscriber returns the subscriber's claims: empty ones for an
// anonymous subscriber when those are allowed.
func (h *Handler) authorizeSubscriber(r *http.Request) (*Claims, error) {
	raw, _, err := extractToken(r, h.cookieName)
	switch {
	case errors.Is(err, errNoToken) && h.anonymous:
		return &Claims{}, nil
	case err != nil:
		return nil, err
	case h.sub == nil:
		return nil, fmt.Errorf("%w: this hub has no subscriber key to verify tokens with", errInvalidToken)
	}
	return h.sub.verify(raw)
}

// serveTakenOver streams s on w's connection taken over from net/http by
// the handler's stream engine, and reports whether it did: false means
// nothing was written and the caller streams through net/http. From then
// on the stream owns release and s.
func (h *Handler) serveTakenOver(w http.ResponseWriter, r *http.Request, s *hub.Subscriber, topics []string, claims *Claims, release func()) bool {
	t := &takenOver{sub: s, h: h, release: release, remote: r.RemoteAddr}
	ctx := r.Context()
	return h.streams.Serve(w, r, &t.Stream, t, hijack.Options{
		Heartbeat:    h.heartbeat,
		WriteTimeout: h.writeTimeout,
		SendBuffer:   h.sendBuffer,
		// A token must not buy a connection that outlives it.
		Expires: claims.exp,
		Started: func() {
			if h.onSubChange != nil {
				h.onSubChange(1, 1) // taken over: HTTP/1.x only
			}
			if h.subsEnabled {
				t.untrack = h.track(ctx, topics, claims)
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
