package main

import (
	"strings"
	"testing"

	"github.com/ssehub/ssehub/internal/loadgen"
)

// TestKeptSection checks that a section written with -section survives
// bench/run.sh's rewrite of the generated part, and that writing it again
// replaces it alone.
func TestKeptSection(t *testing.T) {
	doc := replaceSection("# Benchmarks\n\ngenerated v1\n", sharedSection, "## Shared\n\nbody 1")
	doc = replaceSection(doc, "other", "## Other\n\nkeep me")
	doc = replaceSection(doc, sharedSection, "## Shared\n\nbody 2")
	doc = withKeptTail(markdown(nil, "nproc: 2", "", "latency.svg"), doc)
	begin, end := sectionMarkers(sharedSection)
	for _, want := range []string{"## Machine", "- nproc: 2", keptMarker, begin, "body 2", end, "keep me"} {
		if strings.Count(doc, want) != 1 {
			t.Errorf("%q appears %d times, want once:\n%s", want, strings.Count(doc, want), doc)
		}
	}
	for _, gone := range []string{"generated v1", "body 1"} {
		if strings.Contains(doc, gone) {
			t.Errorf("%q survived:\n%s", gone, doc)
		}
	}
	if !(strings.Index(doc, "## Machine") < strings.Index(doc, keptMarker) &&
		strings.Index(doc, keptMarker) < strings.Index(doc, "body 2") &&
		strings.Index(doc, "body 2") < strings.Index(doc, "keep me")) {
		t.Errorf("out of order:\n%s", doc)
	}
	// Without a kept part, the generated file is all there is.
	if got := withKeptTail("generated\n", "old, never marked\n"); got != "generated\n" {
		t.Errorf("withKeptTail without a marker = %q", got)
	}
}

func TestSharedMarkdown(t *testing.T) {
	hubs := func(n int, perConn float64) (*proc, []proc) {
		return &proc{RSSBeforeKiB: 1000, RSSConnKiB: 51000, RSSPerConnByte: perConn, CPUPercent: 50, CPULiveSeconds: perConn / 1024 * 6}, make([]proc, n)
	}
	fan := func(name string, n int, rate, p99, perConn float64) result {
		sum, each := hubs(n, perConn)
		if n == 1 {
			each = nil
		}
		return result{Result: loadgen.Result{Name: name, Scenario: "100000 subscribers, 1 update/s", Mode: "fanout",
			Connections: 100000, Connected: 100000, Expected: 6e6, Delivered: 6e6, DeliveryRate: rate,
			LatencyMs: &latency{P50: 10, P99: p99}, Server: sum, Servers: each, Client: proc{CPULiveSeconds: 3}}}
	}
	rs := []result{
		fan("bolt, 1 hub", 1, 1e5, 40, 4096),
		fan("redis, 6 hubs", 6, 1e5, 80, 6144),
		{Result: loadgen.Result{Name: "redis, 3 hubs", Scenario: "publish only, 64 publishers", Mode: "fanout", PublishRate: 900, Published: 4500}},
		{Result: loadgen.Result{Name: "bolt, 1 hub", Scenario: "publish only, 64 publishers", Mode: "fanout", PublishRate: 3000, Published: 15000}},
		// No baseline row: ratios to the first.
		{Result: loadgen.Result{Name: "redis, 3 hubs", Scenario: "no baseline", Mode: "fanout", PublishRate: 200, Published: 1000}},
		{Result: loadgen.Result{Name: "jetstream, 3 hubs", Scenario: "no baseline", Mode: "fanout", PublishRate: 100, Published: 500}},
	}
	md := sharedMarkdown(rs, "bolt, 1 hub", "nproc: 2", "bench/scale.sh ...")
	for _, want := range []string{
		"### 100000 subscribers, 1 update/s",
		"| redis, 6 hubs | 6 | 100000 |",
		"80.0 ms (×2.00)",
		"| 100.000 % |",
		"6.0 KiB (×1.50)",
		// 36 s of the hubs' and 3 s of the generator's CPU over 6e6 deliveries.
		"| 6.0 µs (×1.50) | 0.5 µs |",
		"### publish only, 64 publishers",
		"900 (×0.30)",
		"| 100 (×0.50) |",
		"- nproc: 2",
		"bench/scale.sh ...",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("section lacks %q:\n%s", want, md)
		}
	}
}
