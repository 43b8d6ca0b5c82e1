package hub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
)

// DefaultQueueSize is the per-subscriber queue bound, in events, used when
// Options.QueueSize is zero.
const DefaultQueueSize = 1024

// ErrSlowSubscriber is wrapped by the error Subscriber.Run returns when the
// subscriber's queue filled up because it did not keep up with the updates
// it subscribed to. The client should reconnect with its last event ID: it
// then replays what it missed from the log.
var ErrSlowSubscriber = errors.New("hub: subscriber too slow, disconnected")

// Options configures a Hub. The zero value is ready to use.
type Options struct {
	// Log stores and orders the updates. Nil means a MemoryLog with default
	// options, which the hub then owns and closes.
	Log Log
	// QueueSize bounds each subscriber's queue of encoded events; a
	// subscriber whose queue is full is disconnected. 0 means
	// DefaultQueueSize.
	QueueSize int
	// Logger receives the hub's logs. Nil means slog.Default().
	Logger *slog.Logger
	// MaxSelectors bounds the distinct topic and authorized selectors
	// compiled at once, over all subscribers; a Subscribe that would go
	// beyond gets an error wrapping ErrTooManySelectors. 0 means
	// DefaultMaxSelectors, negative no bound.
	MaxSelectors int
	// Syntaxes are selector syntaxes besides Mercure 0.x's and the
	// built-in SyntaxExact and SyntaxURLPattern, by name, for
	// Subscription.Selectors and Grants (see Matcher).
	Syntaxes map[string]Compiler
	// BaseURL is the absolute URL relative URL patterns and relative
	// topics are resolved against by SyntaxURLPattern: Mercure 1.0 wants
	// the hub's URL. Empty means DefaultBaseURL.
	BaseURL string
	// Announcements, when set, is a log of its own that carries the
	// events of Announce between the hubs sharing it (with Log): Announce
	// appends there, and every hub follows it and fans out what it reads,
	// so an announced event reaches the subscribers of every hub once,
	// in this log's order on all of them. It is not Log so that announced
	// events, which clients can make by the hundred, never take the place
	// of updates in Log's bounded history; its own retention need only
	// cover a hub's lag in following it. Nil means Announce fans out on
	// this hub alone. The hub does not close it.
	Announcements Log
}

// Hub fans out the updates of a Log to subscribers. It is safe for
// concurrent use.
type Hub struct {
	log       Log
	ownLog    bool
	logger    *slog.Logger
	queueSize int
	matcher   *matcher // Hub.Match's cache
	maxSels   int
	syntaxes  map[string]Compiler

	// announcements is Options.Announcements, or nil.
	announcements Log

	// ctx is canceled by Close; it stops the followers and every Run.
	ctx       context.Context
	cancel    context.CancelFunc
	followers sync.WaitGroup
	runs      sync.WaitGroup

	mu     sync.Mutex
	closed bool
	pos    uint64 // Seq of the last update dispatched
	recent positions
	// announced are the events Announce fanned out without storing them.
	announced announced
	// sels holds every distinct selector some Subscriber holds, compiled
	// once. The fan-out finds those held as topic selectors through exact,
	// for Mercure 0.x exact topics, and index, for the others; each is
	// evaluated once per update whatever the number of subscribers
	// sharing it.
	sels    map[selKey]*selEntry
	exact   map[string]*selEntry
	index   node
	indexed int // entries in index
	// urlIndex files the URL patterns of the built-in syntax by a prefix of
	// the urlKey of the topics they match, walked with each topic's urlKey
	// against urlBase: a topic is spelt many ways, its parse is one.
	urlIndex   node
	urlIndexed int // entries in urlIndex
	urlBase    string

	// historyErr is the first corruption met replaying the log.
	historyErr atomic.Pointer[error]

	subscribers atomic.Int64
	published   atomic.Uint64
	delivered   atomic.Uint64
	slow        atomic.Uint64
}

// New returns a Hub that fans out every update appended to opts.Log from
// now on, and starts its follower goroutine. Close stops it.
func New(opts Options) (*Hub, error) {
	h := &Hub{
		log:           opts.Log,
		announcements: opts.Announcements,
		logger:        opts.Logger,
		queueSize:     opts.QueueSize,
		maxSels:       opts.MaxSelectors,
		syntaxes:      builtinSyntaxes(opts.BaseURL),
		urlBase:       cmp.Or(opts.BaseURL, DefaultBaseURL),
		sels:          make(map[selKey]*selEntry),
		exact:         make(map[string]*selEntry),
	}
	maps.Copy(h.syntaxes, opts.Syntaxes)
	h.matcher = newMatcher(h.compileSelector)
	if h.maxSels == 0 {
		h.maxSels = DefaultMaxSelectors
	}
	if h.log == nil {
		h.log, h.ownLog = NewMemoryLog(MemoryLogOptions{}), true
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if h.queueSize <= 0 {
		h.queueSize = DefaultQueueSize
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())

	last, err := h.log.Last(h.ctx)
	if err != nil {
		h.cancel()
		return nil, fmt.Errorf("hub: reading the end of the log: %w", err)
	}
	h.pos = last
	var lastAnnounced uint64
	if h.announcements != nil {
		// Events announced before the hub started are over: only the
		// subscribers live at the time could get them.
		if lastAnnounced, err = h.announcements.Last(h.ctx); err != nil {
			h.cancel()
			return nil, fmt.Errorf("hub: reading the end of the announcements: %w", err)
		}
	}
	// The newest updates' IDs are what live-only subscribers are told
	// they start after.
	for u, err := range h.log.Read(h.ctx, last-min(last, positionsKept)) {
		if err != nil || u.Seq > last {
			break
		}
		h.recent.add(u)
	}
	h.followers.Add(1)
	go h.follow(h.log, "log", last, h.dispatch)
	if h.announcements != nil {
		h.followers.Add(1)
		go h.follow(h.announcements, "announcements", lastAnnounced, func(u *Update) {
			if err := h.announce(u); err != nil && !errors.Is(err, ErrClosed) {
				h.logger.Warn("hub: skipping an announced event that cannot be encoded", "id", u.ID, "err", err)
			}
		})
	}
	return h, nil
}

// Match reports whether the topic selector matches topic, following the
// Mercure protocol: selector is "*", equals topic, or is an RFC 6570 URI
// template that matches topic. Templates are compiled once and results are
// cached. A selector that is not a valid template matches only itself.
func (h *Hub) Match(selector, topic string) bool {
	return h.matcher.match(selector, topic)
}

// Stats is a snapshot of a hub's counters.
type Stats struct {
	Subscribers     int64  // subscribers currently subscribed
	Published       uint64 // updates stored by Publish
	Delivered       uint64 // events written to subscribers, replayed ones included
	SlowDisconnects uint64 // subscribers disconnected with ErrSlowSubscriber
	Topics          int    // distinct exact selectors subscribed
	Templates       int    // distinct other selectors subscribed: templates, "*", other syntaxes
	Position        uint64 // Seq of the last update fanned out
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	topics, templates, pos := len(h.exact), h.indexed+h.urlIndexed, h.pos
	h.mu.Unlock()
	return Stats{
		Subscribers:     h.subscribers.Load(),
		Published:       h.published.Load(),
		Delivered:       h.delivered.Load(),
		SlowDisconnects: h.slow.Load(),
		Topics:          topics,
		Templates:       templates,
		Position:        pos,
	}
}

// Close stops the hub: Publish and Subscribe return ErrClosed from now on,
// every Run returns ErrClosed, and the follower stops. Close waits for the
// followers and the running Runs to return, or for ctx to be done. It does
// not close a Log passed in Options: its owner does.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		for _, e := range h.sels {
			for s := range e.subs {
				s.hubClosed()
			}
		}
		// Drop the indexes: subscribers that never Run must not pin
		// memory, and no update is fanned out any more.
		clear(h.sels)
		clear(h.exact)
		h.index, h.indexed = node{}, 0
		h.urlIndex, h.urlIndexed = node{}, 0
		h.cancel()
	}
	h.mu.Unlock()

	done := make(chan struct{})
	go func() {
		h.followers.Wait()
		h.runs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("hub: closing: %w", ctx.Err())
	}
	if h.ownLog {
		if err := h.log.Close(); err != nil && !errors.Is(err, ErrClosed) {
			return fmt.Errorf("hub: closing the log: %w", err)
		}
	}
	return nil
}

// HistoryErr returns the first corruption (an error wrapping ErrCorrupt)
// the hub met replaying its log's history, or nil. From then on the hub
// refuses subscriptions that ask for history (ErrHistoryUnavailable)
// rather than end each one where the damage starts, and health checks
// should report it: the log needs repair, and a restart after it clears
// this.
func (h *Hub) HistoryErr() error {
	if p := h.historyErr.Load(); p != nil {
		return *p
	}
	return nil
}
