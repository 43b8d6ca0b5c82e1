package mercure

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/ssehub/ssehub/hub"
)

// jsonldContext is the JSON-LD context of subscription documents.
const jsonldContext = "https://mercure.rocks/"

// subscriptionDoc is the JSON-LD document describing one subscription, in
// the subscriptions API and as the data of subscription events.
type subscriptionDoc struct {
	Context     string          `json:"@context,omitempty"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Subscriber  string          `json:"subscriber"`
	Topic       string          `json:"topic"`
	Active      bool            `json:"active"`
	LastEventID string          `json:"lastEventID,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
}

// collectionDoc is the JSON-LD document listing subscriptions.
type collectionDoc struct {
	Context       string            `json:"@context"`
	ID            string            `json:"id"`
	Type          string            `json:"type"`
	LastEventID   string            `json:"lastEventID"`
	Subscriptions []subscriptionDoc `json:"subscriptions"`
}

// registry holds this handler's active subscriptions. Subscriptions served
// by other hub nodes sharing a log are not in it.
type registry struct {
	mu   sync.Mutex
	seq  uint64
	subs map[string]*activeSub // by subscriber ID
}

type activeSub struct {
	seq        uint64 // creation order, for a stable listing
	subscriber string
	d          dialect
	topics     []string        // 0.x: the topic selectors
	payload    json.RawMessage // 0.x: the token's payload
	// Mercure 1.0: the matchers, and each one's payload (nil for none).
	matchers []hub.Selector
	payloads []json.RawMessage
}

func (rg *registry) add(s *activeSub) {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if rg.subs == nil {
		rg.subs = make(map[string]*activeSub)
	}
	rg.seq++
	s.seq = rg.seq
	rg.subs[s.subscriber] = s
}

func (rg *registry) remove(subscriber string) {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	delete(rg.subs, subscriber)
}

// docs0 returns the documents of the Mercure 0.x subscriptions subs
// whose topic selector is topic ("" for all), in their order.
func docs0(subs []*activeSub, topic string) []subscriptionDoc {
	docs := []subscriptionDoc{}
	for _, s := range subs {
		for _, t := range s.topics {
			if topic == "" || t == topic {
				docs = append(docs, newSubscriptionDoc(t, s.subscriber, true, s.payload))
			}
		}
	}
	return docs
}

// list returns the active subscriptions of dialect d whose subscriber is
// subscriber ("" for all), oldest first.
func (rg *registry) list(d dialect, subscriber string) []*activeSub {
	rg.mu.Lock()
	subs := make([]*activeSub, 0, len(rg.subs))
	for _, s := range rg.subs {
		if s.d == d && (subscriber == "" || s.subscriber == subscriber) {
			subs = append(subs, s)
		}
	}
	rg.mu.Unlock()
	slices.SortFunc(subs, func(a, b *activeSub) int { return cmp.Compare(a.seq, b.seq) })
	return subs
}

func newSubscriptionDoc(topic, subscriber string, active bool, payload json.RawMessage) subscriptionDoc {
	return subscriptionDoc{
		ID:         subscriptionTopic(topic, subscriber),
		Type:       "Subscription",
		Subscriber: subscriber,
		Topic:      topic,
		Active:     active,
		Payload:    payload,
	}
}

// subscriptionTopic expands /.well-known/mercure/subscriptions/{topic}/{subscriber}.
func subscriptionTopic(topic, subscriber string) string {
	return subscriptionsPath + "/" + escapeVar(topic) + "/" + escapeVar(subscriber)
}

// escapeVar percent-encodes s the way RFC 6570 simple string expansion
// does: every byte but the unreserved characters, so that a selector full
// of '/', '{' and '%' stays one path segment and decodes back exactly.
func escapeVar(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// track registers a new subscriber's subscriptions, announces them in the
// background and returns the function that withdraws and announces their
// end. The
// subscriber's ID is the hub's, random, one per connection: never the
// client's nor its token's sub (Mercure 1.0, "Subscription Events").
func (h *Handler) track(ctx context.Context, sr subRequest) (untrack func()) {
	s := &activeSub{subscriber: "urn:uuid:" + uuid.NewString(), d: sr.d}
	if sr.d == dialect1 {
		// One subscription per distinct matcher: a repeated parameter
		// must not announce the same subscription twice.
		for _, m := range sr.sub.Selectors {
			if !slices.Contains(s.matchers, m) {
				s.matchers = append(s.matchers, m)
				s.payloads = append(s.payloads, h.payloadFor(sr.claims, m.Text))
			}
		}
	} else {
		for _, t := range sr.topics {
			if !slices.Contains(s.topics, t) {
				s.topics = append(s.topics, t)
			}
		}
		s.payload = sr.claims.Payload
	}
	h.subs.add(s)
	// Recording and announcing the subscription goes to the store on a
	// cluster, a round trip per selector: the stream does not wait for
	// it, and its end is announced only after its start.
	started := make(chan struct{})
	go func() {
		defer close(started)
		h.join(ctx, s)
		h.announce(ctx, s, true)
	}()
	return func() {
		h.subs.remove(s.subscriber)
		<-started
		h.leave(ctx, s)
		h.announce(ctx, s, false)
	}
}

// announce fans out one private subscription event per topic selector, to
// the subscribers of every node of the cluster when the hub shares its
// announcements. The events are announced, not published: one client
// opening and closing connections with many selectors makes them by the
// hundred, and in the bounded history they would push out the updates
// clients resume from (issue 19, item 6). The subscriptions API is where
// their state is kept.
func (h *Handler) announce(ctx context.Context, s *activeSub, active bool) {
	// The end of a subscription is announced after its request is over.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), presenceTimeout)
	defer cancel()
	announceSub(ctx, h.hub, h.log, s, active)
}

// announceSub announces a subscription's events on any hub, the presence
// reaper's too: Mercure 1.0's for a 1.0 subscriber, else 0.x's.
func announceSub(ctx context.Context, hb *hub.Hub, log *slog.Logger, s *activeSub, active bool) {
	var us []*hub.Update
	if s.d == dialect1 {
		us = subscriptionEvents1(ctx, log, s, active)
	} else {
		for _, t := range s.topics {
			doc := newSubscriptionDoc(t, s.subscriber, active, s.payload)
			doc.Context = jsonldContext
			data, err := json.Marshal(doc)
			if err != nil {
				// Payload is JSON from a verified token, so this cannot
				// happen short of a bug; the event is only informative.
				log.ErrorContext(ctx, "mercure: encode subscription event", "err", err)
				continue
			}
			us = append(us, &hub.Update{Topics: []string{doc.ID}, Data: string(data), Private: true})
		}
	}
	for _, u := range us {
		if _, err := hb.Announce(ctx, u); err != nil && !errors.Is(err, hub.ErrClosed) {
			// At shutdown every subscriber of a hub on its own ends at
			// once with nowhere to announce it; anything else is worth
			// a line.
			log.WarnContext(ctx, "mercure: announce subscription event", "topic", u.Topics[0], "err", err)
		}
	}
}

// subscriptionsAPI answers GET on the subscriptions API, in the dialect of
// the request's token: Mercure 1.0's for an access token, else 0.x's,
// /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]].
func (h *Handler) subscriptionsAPI(w http.ResponseWriter, r *http.Request) {
	if h.apiDialect(r) == dialect1 {
		h.subscriptionsAPI1(w, r)
		return
	}
	rest := strings.TrimPrefix(r.URL.EscapedPath(), subscriptionsPath)
	var parts []string
	if rest != "" {
		parts = strings.Split(strings.TrimPrefix(rest, "/"), "/")
	}
	if len(parts) > 2 || slices.Contains(parts, "") {
		http.NotFound(w, r)
		return
	}
	vars := make([]string, len(parts))
	for i, p := range parts {
		v, err := url.PathUnescape(p)
		if err != nil {
			writeError(w, http.StatusBadRequest, "path: malformed percent-encoding")
			return
		}
		vars[i] = v
	}
	// The resource to authorize is the canonical relative URL, the same
	// string as the topic of the subscription's events.
	self := subscriptionsPath
	for _, v := range vars {
		self += "/" + escapeVar(v)
	}
	claims, err := h.authorizeAPI(r, self)
	if err != nil {
		writeAuthError(w, err, "")
		return
	}

	lastID, err := h.lastEventIDNow(r.Context(), claims.Subscribe)
	if err != nil {
		h.subscribeFailed(w, r, err)
		return
	}
	topic, subscriber := "", ""
	if len(vars) > 0 {
		topic = vars[0]
	}
	if len(vars) > 1 {
		subscriber = vars[1]
	}
	subs, ok := h.subscriptions(w, r, dialect0, subscriber)
	if !ok {
		return
	}
	docs := docs0(subs, topic)
	var doc any
	switch len(vars) {
	case 2:
		if len(docs) == 0 {
			writeError(w, http.StatusNotFound, "no such active subscription")
			return
		}
		d := docs[0]
		d.Context, d.LastEventID = jsonldContext, lastID
		doc = d
	case 1:
		doc = collectionDoc{Context: jsonldContext, ID: self, Type: "Subscriptions", LastEventID: lastID, Subscriptions: docs}
	default:
		doc = collectionDoc{Context: jsonldContext, ID: self, Type: "Subscriptions", LastEventID: lastID, Subscriptions: docs}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot encode the subscriptions")
		return
	}
	w.Header().Set("Content-Type", "application/ld+json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

// authorizeAPI lets in a subscriber token whose subscribe selectors match
// the requested resource, and returns its claims.
func (h *Handler) authorizeAPI(r *http.Request, resource string) (*Claims, error) {
	raw, _, err := extractToken(r, h.cookieName)
	if err != nil {
		return nil, err
	}
	if h.sub == nil {
		return nil, fmt.Errorf("%w: this hub has no subscriber key to verify tokens with", errInvalidToken)
	}
	c, err := h.sub.verify(r.Context(), raw)
	if err != nil {
		return nil, err
	}
	if !h.matchAny(c.Subscribe, resource) {
		return nil, fmt.Errorf("the token's subscribe selectors do not cover %s", resource)
	}
	return c, nil
}

// lastEventIDNow returns the ID of the newest update the hub has fanned
// out that a subscriber with the authorized selectors may see, which a
// live-only subscriber is told it starts after, so that a client can list
// the subscriptions and then follow their events from that point without
// missing one. When the hub cannot tell, it returns "earliest": replaying
// too much is safe, missing events is not.
func (h *Handler) lastEventIDNow(ctx context.Context, authorized []string) (string, error) {
	s, err := h.hub.Subscribe(ctx, hub.Subscription{Topics: []string{"*"}, Authorized: authorized})
	if err != nil {
		return "", err
	}
	defer s.Close()
	if id := s.LastEventID(); id != "" {
		return id, nil
	}
	return hub.EarliestID, nil
}
