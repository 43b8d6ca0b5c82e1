package web

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"

	"github.com/ssehub/ssehub/internal/demo"
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
	}
	if tok := r.URL.Query().Get("authorization"); tok != "" {
		// A hub off the development defaults wants a token for the
		// figures (Options.AdmitStats); EventSource cannot send a header,
		// so /dashboard?authorization=TOKEN hands it on in the query.
		d.StatsURL += "?authorization=" + url.QueryEscape(tok)
	}
	t := h.pages.dashboard
	if r.URL.Path == "/" {
		t = h.pages.demo
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
	w.Write(buf.Bytes())
}
