// Package jetstream implements hub.Log on a NATS JetStream stream, so that
// several hub processes ("nodes") sharing one NATS cluster serve the same
// updates in the same order, and the log survives the loss of a server.
//
// One stream holds the log. An update with ID x is published on the
// subject "<Subject>.<h>", where h is a hash of x (see idToken), with its
// hub.RetryKey (x and a digest of its content) as its Nats-Msg-Id:
// JetStream stores a message whose Nats-Msg-Id it saw within the stream's
// duplicate window only once and acknowledges the retry with the first
// copy's sequence, so a publisher's retry after a timeout is stored once,
// while a different update reusing x is stored. The update's Seq is the
// stream sequence, the same on every node.
//
// Append returns after JetStream's publish acknowledgement, which the
// stream leader sends once a quorum of the stream's replicas (two of
// three) has stored the message: losing any one server loses no
// acknowledged update. Retention is the stream's own limits (MaxMsgs,
// MaxAge, discarding the oldest), enforced by the servers by their clocks.
//
// Find asks the stream leader for the first message on the ID's subject.
// Read fetches batches with direct gets, which any replica answers,
// and stops at the last sequence the leader reported when Read began.
// Follow runs an ordered consumer, which nats.go recreates from the last
// sequence delivered when a server fails.
//
// Requirements: nats-server 2.11 or later (batched direct gets), with
// JetStream enabled for the account.
package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
)

// ErrUnavailable is wrapped by the error of any operation that could not
// reach JetStream or that it could not serve for now (no servers, no
// stream leader, a timeout). An Append that fails with it may or may not
// have been stored; the caller must not report it as stored, and may
// retry it with the same ID within the duplicate window.
var ErrUnavailable = errors.New("jetstream: unavailable")

// ErrConfigMismatch is wrapped by the *ConfigError Open returns when the
// stream exists with a configuration other than the one asked for.
var ErrConfigMismatch = errors.New("jetstream: stream configuration differs")

// ConfigError reports a setting of an existing stream that differs from
// the Options given to Open. Open never changes an existing stream: the
// operator does, with the nats CLI or by deleting the stream.
type ConfigError struct {
	Stream  string
	Setting string // as named by the stream configuration, e.g. "max_msgs"
	Have    string // the stream's value
	Want    string // the value the Options ask for
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("jetstream: stream %s has %s %s, but %s was asked for (change the stream or the options; ssehub never changes an existing stream)",
		e.Stream, e.Setting, e.Have, e.Want)
}

// Unwrap returns ErrConfigMismatch.
func (e *ConfigError) Unwrap() error { return ErrConfigMismatch }

// Defaults, used where Options leaves a field zero.
const (
	DefaultStream = "SSEHUB"
	DefaultMaxLen = 100_000

	// readBatch is how many messages one direct get of Read asks for.
	readBatch = 512
	// requestTimeout bounds one request to JetStream when the caller's
	// context has no deadline.
	requestTimeout = 5 * time.Second
	// infoTimeout bounds one stream information request at Open, which is
	// asked again while a new stream elects its leader.
	infoTimeout = 2 * time.Second
	// catchUp bounds how long Read waits for the replica answering its
	// direct gets to reach the sequence the leader reported.
	catchUp = 5 * time.Second
)

// Options configures a Log. The zero value uses the stream DefaultStream on
// the subjects "ssehub.SSEHUB.*", keeps the newest DefaultMaxLen updates with
// no age limit, deduplicates over hub.DefaultDuplicateWindow and picks the replica
// count from the cluster's size.
type Options struct {
	// Stream is the stream's name.
	Stream string
	// Subject is the subject prefix; the stream takes Subject + ".*". It
	// must not overlap another stream's subjects. Empty means "ssehub."
	// and the stream's name.
	Subject string
	// Replicas is the stream's replica count, 1 to 5. 0 means 3 when the
	// client knows of 3 or more servers in the cluster, else 1.
	Replicas int
	// MaxLen is the most updates kept (the stream's max_msgs); the oldest
	// are removed as new ones are appended. 0 means DefaultMaxLen.
	MaxLen int
	// MaxAge, when positive, removes updates stored longer ago than this
	// (the stream's max_age, at least 100 ms, by the servers' clocks).
	MaxAge time.Duration
	// DuplicateWindow is the window within which a second publish of an
	// ID is answered with the first's Seq instead of being stored (the
	// stream's duplicate_window, at least 100 ms; see hub.Log's Append).
	// 0 means hub.DefaultDuplicateWindow, or MaxAge if that is shorter; it
	// cannot exceed MaxAge. Negative turns deduplication off: appends
	// carry no Nats-Msg-Id.
	DuplicateWindow time.Duration
	// NATS are options for the connection: credentials (nats.UserCredentials,
	// nats.UserInfo, nats.Token, nats.Nkey), TLS (nats.Secure, nats.RootCAs,
	// nats.ClientCert), a name. Open adds reconnect settings of its own
	// after them.
	NATS []nats.Option
	// Logger receives connection events; nil means slog.Default().
	Logger *slog.Logger
}

// Log is a hub.Log on a JetStream stream. Its methods are safe for
// concurrent use, and any number of Logs, in any number of processes, may
// share one stream.
type Log struct {
	conn    *conn      // shared with the logs opened by Sibling
	nc      *nats.Conn // conn.nc
	js      njs.JetStream
	stream  njs.Stream
	name    string
	subject string // the prefix; updates go to subject + "." + idToken
	maxAge  time.Duration
	dedupe  bool // appends carry a Nats-Msg-Id
	logger  *slog.Logger

	// ctx is cancelled by Close; it ends every Follow and Read.
	ctx    context.Context
	cancel context.CancelFunc

	// lastTime is the latest append time (Unix ns) this Log handed out, so
	// that one node's appends never go back in time when its clock does.
	lastTime atomic.Int64

	mu     sync.Mutex
	closed bool
}

var _ hub.Log = (*Log)(nil)

// Open connects to the NATS servers at urls ("nats://host:4222", several
// separated by commas; "tls://" for TLS), creates the stream if it does
// not exist, and checks its configuration if it does: a difference is an
// error wrapping ErrConfigMismatch, never a change. The caller must Close
// the log. Further streams can share its connection: see Sibling.
//
// While no server accepts the connection or JetStream cannot serve yet (a
// cluster still electing its meta leader), Open waits, with backoff,
// logging each wait, until ctx ends: give ctx a deadline to bound the
// wait. A refused configuration or credentials fail at once.
func Open(ctx context.Context, urls string, opts Options) (*Log, error) {
	cfg, err := opts.streamConfig()
	if err != nil {
		return nil, err
	}
	logger := opts.logger()
	nopts := append([]nats.Option{
		nats.Name("ssehub"),
		// Keep reconnecting for as long as the log is open: a NATS cluster
		// that is down for a while must not close the hub's connection.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: Close
				logger.Warn("jetstream: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			logger.Info("jetstream: reconnected", "server", c.ConnectedUrlRedacted())
		}),
	}, opts.NATS...)
	var nc *nats.Conn
	err = waitFor(ctx, logger, "connect "+urls, func() error {
		nc, err = nats.Connect(urls, nopts...)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, nats.ErrNoServers):
			return fmt.Errorf("jetstream: connect %s: %w: %w", urls, ErrUnavailable, err)
		}
		return fmt.Errorf("jetstream: connect %s: %w", urls, err)
	})
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc}
	c.refs.Store(1)
	return open(ctx, c, cfg, opts)
}

// open returns a log on c of the stream cfg describes, creating the stream
// if it does not exist. The caller holds a reference to c for the log,
// which open releases if it fails.
func open(ctx context.Context, c *conn, cfg njs.StreamConfig, opts Options) (*Log, error) {
	logger := opts.logger()
	js, err := njs.New(c.nc, njs.WithDefaultTimeout(requestTimeout))
	if err != nil {
		c.release()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	autoReplicas := cfg.Replicas == 0
	if autoReplicas {
		cfg.Replicas = 1
		if len(c.nc.Servers()) >= 3 {
			cfg.Replicas = 3
		}
	}
	var stream njs.Stream
	err = waitFor(ctx, logger, "stream "+cfg.Name, func() error {
		// Each attempt is bounded on its own: a request that nothing
		// answers, while the cluster elects its meta leader, must not use up
		// the whole of ctx.
		actx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		stream, err = ensureStream(actx, js, cfg, autoReplicas)
		return err
	})
	if err != nil {
		c.release()
		return nil, err
	}
	l := &Log{
		conn:    c,
		nc:      c.nc,
		js:      js,
		stream:  stream,
		name:    cfg.Name,
		subject: strings.TrimSuffix(cfg.Subjects[0], ".*"),
		maxAge:  cfg.MaxAge,
		dedupe:  opts.DuplicateWindow >= 0,
		logger:  logger,
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l, nil
}

// logger returns o.Logger, or slog.Default() when that is nil.
func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

// Validate reports the first field of o that Open would reject, naming it,
// without connecting.
func (o Options) Validate() error {
	_, err := o.streamConfig()
	return err
}

// streamConfig validates opts and returns the stream configuration they
// ask for; Replicas 0 is left for Open to decide.
func (o Options) streamConfig() (njs.StreamConfig, error) {
	name, subject := o.Stream, o.Subject
	if name == "" {
		name = DefaultStream
	}
	if subject == "" {
		subject = "ssehub." + name
	}
	if strings.ContainsAny(name, " \t\r\n.*>/\\") {
		return njs.StreamConfig{}, fmt.Errorf("jetstream: Options.Stream %q: a stream name cannot contain whitespace, '.', '*', '>', '/' or '\\'", name)
	}
	for tok := range strings.SplitSeq(subject, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return njs.StreamConfig{}, fmt.Errorf("jetstream: Options.Subject %q: want dot-separated tokens without wildcards or whitespace", subject)
		}
	}
	if o.Replicas < 0 || o.Replicas > 5 {
		return njs.StreamConfig{}, fmt.Errorf("jetstream: Options.Replicas %d: want 1 to 5 (or 0 for the default)", o.Replicas)
	}
	if o.MaxLen < 0 {
		return njs.StreamConfig{}, fmt.Errorf("jetstream: Options.MaxLen %d is negative", o.MaxLen)
	}
	if o.MaxAge < 0 || (o.MaxAge > 0 && o.MaxAge < 100*time.Millisecond) {
		return njs.StreamConfig{}, fmt.Errorf("jetstream: Options.MaxAge %v: want 0 (no limit) or at least 100ms", o.MaxAge)
	}
	dup := o.DuplicateWindow
	switch {
	case dup > 0 && dup < 100*time.Millisecond:
		return njs.StreamConfig{}, fmt.Errorf("jetstream: Options.DuplicateWindow %v: want 0 (the default), at least 100ms, or negative (off)", dup)
	case dup > 0 && o.MaxAge > 0 && dup > o.MaxAge:
		return njs.StreamConfig{}, fmt.Errorf("jetstream: Options.DuplicateWindow %v exceeds Options.MaxAge %v", dup, o.MaxAge)
	case dup <= 0:
		// Off leaves the stream's window at the default too: without a
		// Nats-Msg-Id it is not used.
		dup = hub.DefaultDuplicateWindow
		if o.MaxAge > 0 {
			dup = min(dup, o.MaxAge)
		}
	}
	maxLen := o.MaxLen
	if maxLen == 0 {
		maxLen = DefaultMaxLen
	}
	return njs.StreamConfig{
		Name:        name,
		Subjects:    []string{subject + ".*"},
		Retention:   njs.LimitsPolicy,
		Discard:     njs.DiscardOld,
		Storage:     njs.FileStorage,
		Replicas:    o.Replicas,
		MaxMsgs:     int64(maxLen),
		MaxAge:      o.MaxAge,
		Duplicates:  dup,
		AllowDirect: true,
		// -1, no limit, is what the server stores for 0.
		MaxMsgsPerSubject: -1,
	}, nil
}

// ensureStream creates the stream with cfg, or checks that the existing one
// has it.
//
// With autoReplicas an existing stream's replica count is taken as it is:
// the count guessed from the servers a client knows of can differ between
// nodes that connect while a cluster forms, and the first node to create
// the stream decides.
func ensureStream(ctx context.Context, js njs.JetStream, cfg njs.StreamConfig, autoReplicas bool) (njs.Stream, error) {
	// Look first: creating with a different configuration could fail for
	// another reason (replicas in a lone server) before the server notices
	// the name is taken.
	s, err := streamInfo(ctx, js, cfg.Name)
	if errors.Is(err, njs.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, cfg)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, njs.ErrStreamNameAlreadyInUse) {
			return nil, classify("create stream "+cfg.Name, err)
		}
		// Another node created it meanwhile, differently.
		s, err = streamInfo(ctx, js, cfg.Name)
	}
	if err != nil {
		return nil, classify("stream "+cfg.Name, err)
	}
	// A replicated stream just created has no leader until its replicas
	// elect one, and an append before that goes unanswered: Open asks
	// again rather than hand out a log that cannot append yet.
	if info := s.CachedInfo(); info.Cluster != nil && info.Config.Replicas > 1 && info.Cluster.Leader == "" {
		return nil, fmt.Errorf("jetstream: stream %s: %w: no leader elected yet", cfg.Name, ErrUnavailable)
	}
	have := s.CachedInfo().Config
	if autoReplicas {
		cfg.Replicas = have.Replicas
	}
	for _, c := range []struct {
		setting    string
		have, want any
	}{
		{"subjects", strings.Join(have.Subjects, ","), strings.Join(cfg.Subjects, ",")},
		{"retention", have.Retention, cfg.Retention},
		{"discard", have.Discard, cfg.Discard},
		{"storage", have.Storage, cfg.Storage},
		{"num_replicas", have.Replicas, cfg.Replicas},
		{"max_msgs", have.MaxMsgs, cfg.MaxMsgs},
		{"max_age", have.MaxAge, cfg.MaxAge},
		{"duplicate_window", have.Duplicates, cfg.Duplicates},
		{"allow_direct", have.AllowDirect, cfg.AllowDirect},
		{"max_msgs_per_subject", have.MaxMsgsPerSubject, cfg.MaxMsgsPerSubject},
	} {
		if h, w := fmt.Sprint(c.have), fmt.Sprint(c.want); h != w {
			return nil, &ConfigError{Stream: cfg.Name, Setting: c.setting, Have: h, Want: w}
		}
	}
	return s, nil
}

// streamInfo asks for the stream's information, bounded by infoTimeout:
// just after a stream is created, by this node or another starting beside
// it, its replicas may not have elected a leader yet, and a request that
// reaches none is not answered at all rather than refused (seen as
// TestOpenConcurrently waiting out its 30 s). The timeout is
// ErrUnavailable, on which Open asks again (see waitFor).
func streamInfo(ctx context.Context, js njs.JetStream, name string) (njs.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	return js.Stream(ctx, name)
}

// Append publishes u on its ID's subject with hub.RetryKey(u) as
// Nats-Msg-Id and sets u.Seq and u.Time once JetStream acknowledges it,
// which it does once a quorum of the stream's replicas holds it.
//
// If a message with that Nats-Msg-Id (the same ID and content) was stored
// within the duplicate window, JetStream stores nothing and answers with
// that message's Seq, which u gets, with its Time (or, if retention has
// removed it since, the time of this call). An error wrapping
// ErrUnavailable, or ctx's error, means it cannot tell whether the update
// was stored; a retry of the same update within the window is then safe.
func (l *Log) Append(ctx context.Context, u *hub.Update) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	ctx, cancel := l.bound(ctx)
	defer cancel()
	t := l.now()
	subject := l.subject + "." + idToken(u.ID)
	var key string
	if l.dedupe {
		key = hub.RetryKey(u)
	}
	publish := func(reused bool, opts ...njs.PublishOpt) (*njs.PubAck, error) {
		msg := &nats.Msg{
			Subject: subject,
			Data:    appendBody(make([]byte, 0, 64+len(u.ID)+len(u.Data)), u, t, reused),
		}
		opts = append(opts, njs.WithExpectStream(l.name))
		if l.dedupe {
			opts = append(opts, njs.WithMsgID(msgID(key)))
		}
		return l.js.PublishMsg(ctx, msg, opts...)
	}
	// Expecting the ID's subject to be empty costs nothing when it is, the
	// usual case, and otherwise tells Find that an earlier copy existed.
	ack, err := publish(false, njs.WithExpectLastSequencePerSubject(0))
	if wrongLastSeq(err) {
		ack, err = publish(true)
	}
	if err != nil {
		return l.classify(ctx, "append", err)
	}
	if ack.Duplicate {
		u.Seq, u.Time = ack.Sequence, t
		stored, err := l.get(ctx, apiMsgGetRequest{Seq: ack.Sequence})
		switch {
		case err == nil:
			u.Time = stored.Time
		case !errors.Is(err, njs.ErrMsgNotFound):
			return l.classify(ctx, "append: read the stored duplicate", err)
		}
		return nil
	}
	u.Seq, u.Time = ack.Sequence, t
	return nil
}

// wrongLastSeq reports whether err is JetStream refusing a publish whose
// expected last sequence on its subject did not hold.
func wrongLastSeq(err error) bool {
	var apiErr *njs.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == njs.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == njs.JSErrCodeStreamWrongLastSequenceConstant)
}

// now returns the time for an append: the clock, but never before the
// last time this Log handed out.
func (l *Log) now() time.Time {
	for {
		last := l.lastTime.Load()
		t := time.Now().UnixNano()
		if t <= last {
			t = last
		}
		if l.lastTime.CompareAndSwap(last, t) {
			return time.Unix(0, t)
		}
	}
}

// Find returns the Seq of the earliest update with the given ID, or an
// error wrapping hub.ErrNotFound if the stream does not keep one, or if
// retention has removed the earliest while keeping a later one (where a
// subscriber holding the ID stands is then unknown). It asks the stream
// leader, so an update acknowledged to any node is found.
//
// The first message kept on the ID's subject is the earliest copy kept; it
// carries flagReused when it was published while an earlier copy was kept,
// which retention has removed since.
func (l *Log) Find(ctx context.Context, id string) (uint64, error) {
	if err := l.check(ctx); err != nil {
		return 0, err
	}
	ctx, cancel := l.bound(ctx)
	defer cancel()
	u, err := l.get(ctx, apiMsgGetRequest{Seq: 1, NextFor: l.subject + "." + idToken(id)})
	if errors.Is(err, njs.ErrMsgNotFound) {
		return 0, fmt.Errorf("jetstream: find %q: %w", id, hub.ErrNotFound)
	}
	if err != nil {
		return 0, l.classify(ctx, "find", err)
	}
	// Two IDs share a subject only if their 128-bit hashes collide. An
	// expired first copy is gone, though the servers may not have removed
	// it yet.
	if u.ID != id || u.reused || l.expired(u.stored) {
		return 0, fmt.Errorf("jetstream: find %q: %w", id, hub.ErrNotFound)
	}
	return u.Seq, nil
}

// expired reports whether a message stored at t is older than MaxAge by
// this node's clock: the servers remove it on a timer, and Find and Read
// must not return it in between.
func (l *Log) expired(t time.Time) bool {
	return l.maxAge > 0 && time.Since(t) > l.maxAge
}

// Last returns the stream's last sequence: the Seq of the newest update
// appended by any node, 0 if none ever was. Retention does not lower it.
func (l *Log) Last(ctx context.Context) (uint64, error) {
	if err := l.check(ctx); err != nil {
		return 0, err
	}
	st, err := l.state(ctx)
	if err != nil {
		return 0, l.classify(ctx, "last", err)
	}
	return st.LastSeq, nil
}

// Len returns how many updates the stream keeps.
func (l *Log) Len(ctx context.Context) (int, error) {
	if err := l.check(ctx); err != nil {
		return 0, err
	}
	st, err := l.state(ctx)
	if err != nil {
		return 0, l.classify(ctx, "len", err)
	}
	return int(st.Msgs), nil
}

// Leader returns the name of the server leading the stream, as reported by
// JetStream.
func (l *Log) Leader(ctx context.Context) (string, error) {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	info, err := l.stream.Info(ctx)
	if err != nil {
		return "", l.classify(ctx, "stream info", err)
	}
	if info.Cluster == nil {
		return "", nil
	}
	return info.Cluster.Leader, nil
}

func (l *Log) state(ctx context.Context) (njs.StreamState, error) {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	info, err := l.stream.Info(ctx)
	if err != nil {
		return njs.StreamState{}, err
	}
	return info.State, nil
}

// Close ends every Follow with hub.ErrClosed and closes the connection,
// unless another log opened by Sibling still shares it: the last of those
// to close closes it. It leaves the stream. Closing a closed log returns
// hub.ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return hub.ErrClosed
	}
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.conn.release()
	return nil
}

// check returns ctx's error, or hub.ErrClosed after Close.
func (l *Log) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.ctx.Err() != nil {
		return hub.ErrClosed
	}
	return nil
}

// bound gives ctx a deadline if it has none: nats.go requires one.
func (l *Log) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, requestTimeout)
}

// classify wraps an error of op: after Close it is hub.ErrClosed; the
// caller's context errors are kept; failures to reach or be served by
// JetStream wrap ErrUnavailable.
func (l *Log) classify(ctx context.Context, op string, err error) error {
	if l.ctx.Err() != nil {
		return hub.ErrClosed
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return fmt.Errorf("jetstream: %s: %w", op, err)
	}
	return classify(op, err)
}

func classify(op string, err error) error {
	var apiErr *njs.APIError
	if errors.As(err, &apiErr) && apiErr.Code != 503 && apiErr.Code != 408 {
		// JetStream answered with an error that a retry will not change.
		return fmt.Errorf("jetstream: %s: %w", op, err)
	}
	if errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("jetstream: %s: %w", op, err)
	}
	return fmt.Errorf("jetstream: %s: %w: %w", op, ErrUnavailable, err)
}

// apiMsgGetRequest is the request of JetStream's STREAM.MSG.GET and
// DIRECT.GET APIs (nats-server's JSApiMsgGetRequest).
type apiMsgGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
	Batch   int    `json:"batch,omitempty"`
}

// storedUpdate is an update with the time the server stored it and
// whether it carries flagReused.
type storedUpdate struct {
	*hub.Update
	stored time.Time
	reused bool
}

// get asks the stream leader for one message with STREAM.MSG.GET. nats.go's
// Stream.GetMsg would use a direct get, which any replica answers, and a
// replica may not have applied an acknowledged message yet.
func (l *Log) get(ctx context.Context, req apiMsgGetRequest) (storedUpdate, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return storedUpdate{}, err
	}
	resp, err := l.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+l.name, b)
	if err != nil {
		return storedUpdate{}, err
	}
	var r struct {
		Error   *njs.APIError `json:"error"`
		Message *struct {
			Seq  uint64    `json:"seq"`
			Data []byte    `json:"data"`
			Time time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return storedUpdate{}, fmt.Errorf("%w: MSG.GET answer: %v", ErrUnavailable, err)
	}
	if r.Error != nil {
		if r.Error.ErrorCode == njs.JSErrCodeMessageNotFound {
			return storedUpdate{}, njs.ErrMsgNotFound
		}
		return storedUpdate{}, r.Error
	}
	if r.Message == nil {
		return storedUpdate{}, fmt.Errorf("%w: MSG.GET answered without a message", ErrUnavailable)
	}
	u, reused, err := decodeBodyFlags(r.Message.Seq, r.Message.Data)
	if err != nil {
		return storedUpdate{}, err
	}
	return storedUpdate{u, r.Message.Time, reused}, nil
}
