package web

import (
	"bytes"
	"context"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/demo"
	"github.com/ssehub/ssehub/mercure"
)

// pages holds the parsed page templates.
type pages struct {
	demo, dashboard *template.Template
}

func parsePages(static fs.FS) (*pages, error) {
	demo, err := template.ParseFS(static, "index.html")
	if err != nil {
		return nil, err
	}
	dashboard, err := template.ParseFS(static, "dashboard.html")
	if err != nil {
		return nil, err
	}
	return &pages{demo: demo, dashboard: dashboard}, nil
}

// pageData is what the templates see. The scripts read it back from data-
// attributes of the body, so no configuration is ever written into script.
type pageData struct {
	HubURL    string // the Mercure endpoint, a path or an absolute URL
	DemoTopic string
	// PrivateTopic is the private panel's topic; SubscribeTokenURL, when
	// set, hands out a token for it.
	PrivateTopic      string
	SubscribeTokenURL string
	CanPublish        bool
	TokenURL          string
	StatsURL          string
	HasHistory        bool
	CrossOrigin       bool
	// AccessTokenCookie is the cookie the hub reads Mercure 1.0 access
	// tokens from, named where a plain EventSource needs one.
	AccessTokenCookie string
	// LastEventID is the demo page's discovery cursor, which its feed
	// starts after; empty for none.
	LastEventID string
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	d := pageData{
		HubURL:       h.opts.HubPath,
		DemoTopic:    h.opts.DemoTopic,
		PrivateTopic: demo.PrivateTopic,
		TokenURL:     tokenPath,
		StatsURL:     statsPath,
		HasHistory:   h.opts.HistorySize != nil,
		CrossOrigin:  h.hubOrigin != "",

		AccessTokenCookie: h.opts.AccessTokenCookie,
	}
	if tok := r.URL.Query().Get("authorization"); tok != "" {
		// A hub off the development defaults wants a token for the
		// figures (Options.AdmitStats); EventSource cannot send a header,
		// so /dashboard?authorization=TOKEN hands a Mercure 0.x token on
		// in the query. A 1.0 token comes in the fragment, which the
		// page sends in a header (dashboard.js).
		d.StatsURL += "?authorization=" + url.QueryEscape(tok)
	}
	t := h.pages.dashboard
	link := mercure.DiscoveryLink(h.opts.HubPath, "", "", "")
	if r.URL.Path == "/" {
		t = h.pages.demo
		d.LastEventID = h.demoCursor(r.Context())
		// The demo feed's data is JSON; its updates have two event types
		// (message and note), so the Link names none: Mercure 1.0, "Hub
		// Discovery", says a stream of several types MUST omit it.
		link = mercure.DiscoveryLink(h.opts.HubPath, d.LastEventID, "", "application/json")
		// Asked here only to decide what the form shows; the form fetches
		// its own fresh token when it publishes.
		if h.opts.PublishToken != nil && loopbackHost(r.Host) {
			_, d.CanPublish = h.opts.PublishToken(r)
		}
	}
	if h.opts.SubscribeToken != nil {
		d.SubscribeTokenURL = subscribeTokenPath
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		h.log.Error("web: render page", "path", r.URL.Path, "err", err)
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	// Mercure 1.0, "Hub Discovery": the pages advertise their hub.
	w.Header().Set("Link", link)
	w.Write(buf.Bytes())
}

// demoCursor returns the ID of the newest update an anonymous subscriber of
// the demo topic may see, as the page is made: the page's feed starts
// after it (last_event_id, Mercure 1.0 "Hub Discovery"), so it misses no
// update published before it connects. "" when the hub knows none, since
// "earliest" would replay all the topic's history, and when the hub cannot
// tell: the feed then starts live, as before.
func (h *handler) demoCursor(ctx context.Context) string {
	s, err := h.opts.Hub.Subscribe(ctx, hub.Subscription{Selectors: []hub.Selector{{Syntax: hub.SyntaxExact, Text: h.opts.DemoTopic}}})
	if err != nil {
		h.log.WarnContext(ctx, "web: the demo page's cursor", "err", err)
		return ""
	}
	defer s.Close()
	if id := s.LastEventID(); id != hub.EarliestID {
		return id
	}
	return ""
}
