package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssehub/ssehub/hub"
)

// historySizeTimeout bounds the log query a scrape makes.
const historySizeTimeout = time.Second

// metrics holds the hub's Prometheus registry. It is its own registry, not
// the global default, so that nothing else in the process adds to it and
// tests can run several hubs side by side.
type metrics struct {
	reg     *prometheus.Registry
	publish prometheus.Histogram
	// byProto counts open subscriber streams per HTTP version; its label
	// values are protoLabel's.
	byProto *prometheus.GaugeVec
}

// protoLabel is the protocol label's value for a major HTTP version, ""
// for one the hub does not speak.
func protoLabel(major int) string {
	switch major {
	case 1:
		return "HTTP/1.1"
	case 2:
		return "HTTP/2"
	case 3:
		return "HTTP/3"
	}
	return ""
}

// newMetrics registers the hub's figures, the publish latency and the Go
// runtime and process collectors. historySize may be nil.
func newMetrics(h *hub.Hub, historySize func(context.Context) (int, error), logger *slog.Logger) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ssehub_publish_duration_seconds",
			Help: "Time from receiving a publish request to the update being stored, for successful publishes.",
			// 100µs to about 3s: a memory log answers in microseconds, a
			// durable one waits for an fsync, a loaded one for several.
			Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16),
		}),
		byProto: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ssehub_subscribers_by_protocol",
			Help: "Subscriber streams currently open, by the HTTP version they are served over.",
		}, []string{"protocol"}),
	}
	for major := 1; protoLabel(major) != ""; major++ {
		m.byProto.WithLabelValues(protoLabel(major)) // every series present from the start, at 0
	}
	m.reg.MustRegister(
		m.publish,
		m.byProto,
		newHubCollector(h, historySize, logger),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// observePublish is mercure's ObservePublish hook.
func (m *metrics) observePublish(d time.Duration) { m.publish.Observe(d.Seconds()) }

// subscriberChange is mercure's OnSubscriberChange hook.
func (m *metrics) subscriberChange(protoMajor, delta int) {
	if p := protoLabel(protoMajor); p != "" {
		m.byProto.WithLabelValues(p).Add(float64(delta))
	}
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// hubCollector reads hub.Stats at scrape time, so the figures are the
// hub's own counters rather than copies that could drift.
type hubCollector struct {
	hub         *hub.Hub
	historySize func(context.Context) (int, error)
	log         *slog.Logger

	subscribers, published, delivered, slow, selectors, position, history *prometheus.Desc
}

func newHubCollector(h *hub.Hub, historySize func(context.Context) (int, error), logger *slog.Logger) *hubCollector {
	return &hubCollector{
		hub:         h,
		historySize: historySize,
		log:         logger,
		subscribers: prometheus.NewDesc("ssehub_subscribers",
			"Subscribers currently connected.", nil, nil),
		published: prometheus.NewDesc("ssehub_updates_published_total",
			"Updates stored by this hub's publishers.", nil, nil),
		delivered: prometheus.NewDesc("ssehub_events_delivered_total",
			"Events written to subscribers, replayed ones included.", nil, nil),
		slow: prometheus.NewDesc("ssehub_slow_subscribers_disconnected_total",
			"Subscribers disconnected because they did not keep up.", nil, nil),
		selectors: prometheus.NewDesc("ssehub_subscribed_selectors",
			"Distinct topic selectors subscribed, by kind: exact topics, or templates and *.", []string{"kind"}, nil),
		position: prometheus.NewDesc("ssehub_log_position",
			"Seq of the last update fanned out to subscribers.", nil, nil),
		history: prometheus.NewDesc("ssehub_history_updates",
			"Updates kept in the log for replay.", nil, nil),
	}
}

func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.subscribers, c.published, c.delivered, c.slow, c.selectors, c.position, c.history} {
		ch <- d
	}
}

func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.hub.Stats()
	ch <- prometheus.MustNewConstMetric(c.subscribers, prometheus.GaugeValue, float64(st.Subscribers))
	ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(st.Published))
	ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(st.Delivered))
	ch <- prometheus.MustNewConstMetric(c.slow, prometheus.CounterValue, float64(st.SlowDisconnects))
	ch <- prometheus.MustNewConstMetric(c.selectors, prometheus.GaugeValue, float64(st.Topics), "topic")
	ch <- prometheus.MustNewConstMetric(c.selectors, prometheus.GaugeValue, float64(st.Templates), "template")
	ch <- prometheus.MustNewConstMetric(c.position, prometheus.GaugeValue, float64(st.Position))
	if c.historySize == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), historySizeTimeout)
	defer cancel()
	n, err := c.historySize(ctx)
	if err != nil {
		// Leave the series out of this scrape rather than fail the scrape:
		// the hub's own figures are still worth having.
		c.log.Warn("metrics: cannot read the history size", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.history, prometheus.GaugeValue, float64(n))
}
