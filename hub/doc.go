// Package hub is the broker: it stores published updates in a Log and fans
// them out to subscribers, live and from history. It knows nothing of HTTP,
// tokens or metrics; the mercure package puts it on the wire.
//
// # Model
//
// Publish validates an update and appends it to the Log; it returns once
// the log has stored it. One follower goroutine per Hub follows the log and
// fans out every update in log order, whoever appended it: a hub on a
// shared log (Redis) delivers the updates of every node the same way. Each
// update is encoded once, as a text/event-stream event, and the same bytes
// go to every subscriber that receives it.
//
// Subscribers are indexed by selector, each distinct selector compiled once
// while a subscriber holds it: exact topics in a map, so an update costs
// one lookup per topic; "*", URI templates and the selectors of other
// syntaxes (see Matcher) in a radix tree of their literal prefixes, so an
// update evaluates only the selectors whose prefix one of its topics
// starts with, each once whatever the number of subscribers sharing it.
// URL patterns (SyntaxURLPattern) sit in a second such tree, walked with
// the scheme, host, port and path of each topic as the URL parser reads
// them, since one topic has many spellings.
// Fan-out cost thus grows with the subscribers an update reaches and the
// selectors that might match it, not with all of them
// (BenchmarkDispatchTemplates). Options.MaxSelectors bounds the distinct
// selectors held.
//
// Announce fans out an event that is not stored, such as Mercure's
// subscription events, by the same rule, to the subscribers live then: of
// this hub, or with Options.Announcements of every hub sharing them.
//
// # Delivery rule
//
// A subscriber receives an update if one of its Topics selectors matches
// one of the update's topics, and the update is public or one of its
// Authorized selectors matches one of the update's topics. A selector
// matches a topic if it is "*", equals the topic, or is an RFC 6570 URI
// template that matches it (see Hub.Match). The rule is the same for replay
// and live delivery, and an update matched through several selectors is
// delivered once.
//
// # Replay
//
// A subscriber that gives a last event ID receives every kept update after
// it that it may receive, then the live ones, each exactly once and in log
// order, even while updates are being published: Run reads the log up to
// some position and goes live under the hub's lock only if the follower has
// not fanned out anything beyond it, telling the fan-out to skip what it
// already replayed; otherwise it reads on. An ID the log does not hold
// (never seen, or trimmed by retention) replays everything kept, from the
// oldest, and Subscriber.HistoryIncomplete says so; "earliest" asks for
// that explicitly.
//
// # Slow subscribers
//
// Each subscriber has a bounded queue of encoded events, filled by the
// fan-out and drained by the goroutine in Subscriber.Run, which writes
// everything queued in one Write. The fan-out never blocks: a subscriber
// whose queue is full is disconnected (Run returns ErrSlowSubscriber).
// Nothing is lost: the client reconnects with its last event ID and
// replays the rest from the log. Memory per subscriber stays bounded.
//
// # Cost of a subscriber
//
// Run's way: an idle subscriber has no goroutine of its own beyond the one
// calling Run (an HTTP handler's), parked on two channels. Heartbeats are
// the transport's job: sse.Stream sends them only when the stream is idle.
// Its cost is the heap of the subscriber (queue channel, index entries,
// the goroutine) and Run's goroutine stack: BenchmarkIdleSubscriber
// measures both (go test -bench IdleSubscriber -benchtime=10000x ./hub
// reports heapB/sub and stackB/sub). An HTTP connection adds its own
// buffers on top; BENCHMARKS.md has a whole server's memory per idle
// connection, measured with sse bench --mode idle.
//
// The goroutine-free way, for servers holding very many idle subscribers:
// Replay writes the history and goes live in the caller's goroutine (the
// same handoff as Run), Attach registers a callback the fan-out calls when
// the queue goes from empty to non-empty or the subscriber ends, and Drain
// appends what is queued to a caller's buffer and reports the end. An idle
// subscriber then costs its heap only (heapB/sub above): no stack, no
// buffer.
// The callback runs in the fan-out, possibly under the hub's lock, so it
// only hands the subscriber to a small pool of writer goroutines; the
// fan-out never waits for a writer either way. The mercure package serves
// HTTP/1.1 subscribers so, on connections taken over from net/http.
package hub
