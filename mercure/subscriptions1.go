package mercure

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ssehub/ssehub/hub"
)

// Active subscriptions in the shape of Mercure 1.0 (draft-dunglas-mercure-08,
// "Active Subscriptions"): topics
// /.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber},
// plain JSON documents, and events of the reserved type "mercure". A 0.x
// subscriber's subscriptions keep the 0.x shape, in the 0.x API; each
// dialect's API lists its own.

// subscriptionDoc1 describes one subscription, in the API and as the data
// of its events.
type subscriptionDoc1 struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	MatchType  string          `json:"match_type"`
	Match      string          `json:"match"`
	Subscriber string          `json:"subscriber"`
	Active     bool            `json:"active"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// collectionDoc1 lists subscriptions.
type collectionDoc1 struct {
	ID            string             `json:"id"`
	Type          string             `json:"type"`
	Subscriptions []subscriptionDoc1 `json:"subscriptions"`
}

// subscriptionTopic1 expands {match_type}/{match}/{subscriber} below the
// subscriptions path, each variable percent-encoded once, whole.
func subscriptionTopic1(m hub.Selector, subscriber string) string {
	return subscriptionsPath + "/" + m.Syntax + "/" + escapeVar(m.Text) + "/" + escapeVar(subscriber)
}

func newSubscriptionDoc1(m hub.Selector, subscriber string, active bool, payload json.RawMessage) subscriptionDoc1 {
	return subscriptionDoc1{
		ID:         subscriptionTopic1(m, subscriber),
		Type:       "subscription",
		MatchType:  m.Syntax,
		Match:      m.Text,
		Subscriber: subscriber,
		Active:     active,
		Payload:    payload,
	}
}

// payloadFor returns the payload of the first subscribe grant of c whose
// topics match the subscription's matcher text taken as a topic (Mercure
// 1.0, "Payloads"), or nil.
func (h *Handler) payloadFor(c *Claims, match string) json.RawMessage {
	for _, g := range c.grants {
		if !g.subscribe {
			continue
		}
		for _, sel := range g.topics {
			if h.hub.MatchSelector(sel, match) {
				return g.payload
			}
		}
	}
	return nil
}

// subscriptionEvents1 returns a 1.0 subscription's events: one private
// update of type "mercure" per matcher.
func subscriptionEvents1(ctx context.Context, log *slog.Logger, s *activeSub, active bool) []*hub.Update {
	us := make([]*hub.Update, 0, len(s.matchers))
	for i, m := range s.matchers {
		doc := newSubscriptionDoc1(m, s.subscriber, active, s.payloads[i])
		data, err := json.Marshal(doc)
		if err != nil {
			log.ErrorContext(ctx, "mercure: encode subscription event", "err", err)
			continue
		}
		us = append(us, &hub.Update{Topics: []string{doc.ID}, Type: reservedType, Data: string(data), Private: true})
	}
	return us
}

// apiDialect is the dialect of a subscriptions API request: its token's.
func (h *Handler) apiDialect(r *http.Request) dialect {
	if h.only1 {
		return dialect1
	}
	t, err := h.findToken(r, dialect1)
	if err == nil && t.hdr.access {
		return dialect1
	}
	if _, err := h.findToken(r, dialect0); err == nil {
		return dialect0
	}
	// No token: the answer (a 401) is 1.0's, pointing at the metadata.
	return dialect1
}

// subscriptionsAPI1 answers GET and HEAD on
// /.well-known/mercure/subscriptions[/{match_type}/{match}[/{subscriber}]]
// (Mercure 1.0, "Subscription API").
func (h *Handler) subscriptionsAPI1(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), subscriptionsPath)
	var parts []string
	if rest != "" {
		parts = strings.Split(strings.TrimPrefix(rest, "/"), "/")
	}
	if len(parts) == 1 || len(parts) > 3 || slices.Contains(parts, "") {
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
	if len(vars) > 0 {
		if _, ok := matcherTypes[vars[0]]; !ok {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("match_type: %q is not a matcher type of this hub (exact, urlpattern)", truncate(vars[0], 64)))
			return
		}
	}
	// The topic to authorize is the request's path in relative form, the
	// same string as the topic of the subscription's events.
	self := subscriptionsPath
	if len(vars) > 0 {
		self += "/" + vars[0]
		for _, v := range vars[1:] {
			self += "/" + escapeVar(v)
		}
	}
	t, err := h.findToken(r, dialect1)
	var claims *Claims
	if err == nil {
		claims, err = h.verifyAccess(r, t, false)
	}
	if err == nil && !slices.ContainsFunc(claims.subGrants, func(sel hub.Selector) bool { return h.hub.MatchSelector(sel, self) }) {
		err = fmt.Errorf("the token grants no subscribe on %s", self)
	}
	if err != nil {
		h.authError(w, r, dialect1, err)
		return
	}

	lastID, err := h.lastEventIDNow1(r.Context(), claims.subGrants)
	if err != nil {
		h.subscribeFailed(w, r, err)
		return
	}
	var m *hub.Selector
	subscriber := ""
	if len(vars) > 1 {
		m = &hub.Selector{Syntax: vars[0], Text: vars[1]}
	}
	if len(vars) > 2 {
		subscriber = vars[2]
	}
	subs, ok := h.subscriptions(w, r, dialect1, subscriber)
	if !ok {
		return
	}
	docs := docs1(subs, m)
	var doc any
	switch len(vars) {
	case 3:
		if len(docs) == 0 {
			writeError(w, http.StatusNotFound, "no such active subscription")
			return
		}
		doc = docs[0]
	default:
		doc = collectionDoc1{ID: self, Type: "subscriptions", Subscriptions: docs}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot encode the subscriptions")
		return
	}
	hd := w.Header()
	// The cursor to follow the subscription events from, as discovery
	// gives it; and a validator, for the data is volatile. Both go on a
	// 304 too (RFC 9110, section 15.4.5), which refreshes a cache's copy.
	hd.Set("Link", discoveryLink(h.resourceID(r), lastID, reservedType, "application/json"))
	etag := subscriptionsETag(lastID, body)
	hd.Set("ETag", etag)
	hd.Set("Cache-Control", "must-revalidate")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// subscriptionsETag is the entity tag of a subscriptions API answer: a
// digest of its cursor (the last-event-id of its Link) and its body.
// Mercure 1.0 ("Subscription API") gives no rule for it; its examples
// show the cursor itself, which the reference hub uses because it stores
// subscription events in its history, so that its cursor moves whenever a
// subscription comes or goes. This hub announces them without storing
// them, and lists other nodes' subscriptions from presence: its cursor
// stays when the list changes, and as the tag it would let a client keep
// a stale list, which a strong validator must not (RFC 9110, section
// 8.8.3). Covering both, the tag changes whenever the body or the cursor
// does, so a 304 means the cached list and cursor are both current.
func subscriptionsETag(cursor string, body []byte) string {
	d := sha256.New()
	d.Write([]byte(strconv.Itoa(len(cursor)) + ":" + cursor))
	d.Write(body)
	return `"` + base64.RawURLEncoding.EncodeToString(d.Sum(nil)[:16]) + `"`
}

// docs1 returns the documents of the 1.0 subscriptions subs with matcher
// m (nil for all), in their order.
func docs1(subs []*activeSub, m *hub.Selector) []subscriptionDoc1 {
	docs := []subscriptionDoc1{}
	for _, s := range subs {
		for i, sm := range s.matchers {
			if m == nil || sm == *m {
				docs = append(docs, newSubscriptionDoc1(sm, s.subscriber, true, s.payloads[i]))
			}
		}
	}
	return docs
}

// etagMatch reports whether an If-None-Match value names etag (RFC 9110
// section 13.1.2, weak comparison).
func etagMatch(header, etag string) bool {
	for v := range strings.SplitSeq(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || v == etag {
			return true
		}
	}
	return false
}

// discoveryLink is a rel="mercure" Link field value with the attributes of
// Mercure 1.0's discovery ("Hub Discovery"): the cursor to resume from,
// the SSE event type and the content type of the updates ("" omits one).
func discoveryLink(hubURL, lastEventID, typ, contentType string) string {
	var b strings.Builder
	b.WriteString("<" + hubURL + `>; rel="mercure"`)
	for _, a := range [][2]string{{"last-event-id", lastEventID}, {"type", typ}, {"content-type", contentType}} {
		if a[1] != "" {
			b.WriteString("; " + a[0] + `="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a[1]) + `"`)
		}
	}
	return b.String()
}

// DiscoveryLink returns the Link field value a publisher sends with a
// resource to point its clients at the hub (Mercure 1.0, "Hub
// Discovery"): hubURL with rel="mercure", and, when not empty, the ID of
// the last event at the time the resource was generated (passed back as
// last_event_id), the SSE event type and the content type of its updates.
func DiscoveryLink(hubURL, lastEventID, eventType, contentType string) string {
	return discoveryLink(hubURL, lastEventID, eventType, contentType)
}

// lastEventIDNow1 is lastEventIDNow for Mercure 1.0 grants.
func (h *Handler) lastEventIDNow1(ctx context.Context, grants []hub.Selector) (string, error) {
	s, err := h.hub.Subscribe(ctx, hub.Subscription{Selectors: []hub.Selector{{Syntax: hub.SyntaxExact, Text: hub.Wildcard}}, Grants: grants})
	if err != nil {
		return "", err
	}
	defer s.Close()
	if id := s.LastEventID(); id != "" {
		return id, nil
	}
	return hub.EarliestID, nil
}
