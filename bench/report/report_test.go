package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/internal/loadgen"
)

func TestReport(t *testing.T) {
	in := filepath.Join(t.TempDir(), "r.jsonl")
	lines := `{"name":"ssehub","scenario":"fan","mode":"fanout","connections":10,"connected":10,"deliveries_per_sec":1000,"latency_ms":{"p50":1,"p90":2,"p99":4,"max":5,"n":100},"client":{}}
{"name":"peer","scenario":"fan","mode":"fanout","connections":10,"connected":10,"deliveries_per_sec":500,"latency_ms":{"p50":2,"p90":4,"p99":8,"max":9,"n":100},"client":{}}
{"name":"peer","scenario":"fan","failed":"server did not start"}
`
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, err := readResults(in)
	if err != nil || len(rs) != 3 {
		t.Fatalf("readResults: %d results, %v", len(rs), err)
	}
	md := markdown(rs, "nproc: 2", "sse bench ...", "latency.svg")
	for _, want := range []string{"## fan", "| ssehub |", "500 (×0.50)", "8.0 ms (×2.00)", "failed: server did not start", "- nproc: 2", "sse bench ...", "](latency.svg)"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	svg := chart(rs)
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Errorf("chart is not XML: %v", err)
	}
	if strings.Count(svg, "<rect") != 1+3+6 { // background, legend, 2 servers × 3 percentiles
		t.Errorf("chart has %d rects:\n%s", strings.Count(svg, "<rect"), svg)
	}
	if _, err := readResults(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing input accepted")
	}
}

// TestTargets checks the relative targets against the best peer, with the
// floor shown but never counted as a peer.
func TestTargets(t *testing.T) {
	line := func(name, scenario, mode string, conns int, rate, p99 float64) result {
		return result{Result: loadgen.Result{Name: name, Scenario: scenario, Mode: mode, Connections: conns, Connected: conns, DeliveryRate: rate, LatencyMs: &latency{P99: p99}}}
	}
	const flat, paced = "target: fanout, 10000 subscribers, flat out, 16 publishers", "target: fanout, 10000 subscribers, 10 updates/s"
	rs := []result{
		line("ssehub", flat, "fanout", 10000, 1.6e6, 700),
		line("peer", flat, "fanout", 10000, 0.5e6, 900),
		line("floor", flat, "fanout", 10000, 3e6, 100), // would win, but is no peer
		line("ssehub", paced, "fanout", 10000, 1e5, 40),
		line("peer", paced, "fanout", 10000, 1e5, 110),
		line("other", paced, "fanout", 10000, 1e5, 100),
		line("floor", paced, "fanout", 10000, 1e5, 30),
	}
	idle := func(name, scenario string, conns int, perConn float64) result {
		return result{Result: loadgen.Result{Name: name, Scenario: scenario, Mode: "idle", Connections: conns, Connected: conns, Server: &proc{RSSPerConnByte: perConn}}}
	}
	rs = append(rs,
		idle("ssehub", "idle, 5000 subscribers", 5000, 5<<10),
		idle("peer", "idle, 5000 subscribers", 5000, 25<<10),
		idle("ssehub", "target: idle, 19000 subscribers", 19000, 4<<10),
		idle("peer", "target: idle, 19000 subscribers", 19000, 15<<10),
		idle("floor", "target: idle, 19000 subscribers", 19000, 1<<10),
	)
	var b strings.Builder
	targets(&b, rs)
	md := b.String()
	for _, want := range []string{
		"| RSS per idle subscriber ≤ 6 KiB at 19,000 connections | 4.0 KiB (19000 connected) | met |",
		// At the target size, where the peers ran too.
		"| RSS per idle subscriber ≤ 1/4 of the best peer's | 4.0 KiB vs peer's 15.0 KiB (×0.27) at 19000 connections | **not met** |",
		"| fan-out to 10,000 subscribers ≥ 1,000,000 deliveries/s | 1600000/s (10000 connected, 0 lost) | met |",
		"| fan-out to 10,000 subscribers ≥ 3 × the best peer's | 1600000/s vs peer's 500000/s (×3.20) | met |",
		"| p99 latency ≤ 50 ms at 10 updates/s to 10,000 subscribers | 40.0 ms (0.0 updates/s published); floor: 30.0 ms | met |",
		"| that p99 ≤ 1/3 of the best peer's | 40.0 ms vs other's 100.0 ms (×0.40); floor: 30.0 ms | **not met** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("targets lack %q:\n%s", want, md)
		}
	}
}

// TestTargetsIdleFallback checks the relative memory target at the size
// the peers ran at when they did not run at the target size.
func TestTargetsIdleFallback(t *testing.T) {
	idle := func(name, scenario string, conns int, perConn float64) result {
		return result{Result: loadgen.Result{Name: name, Scenario: scenario, Mode: "idle", Connections: conns, Connected: conns, Server: &proc{RSSPerConnByte: perConn}}}
	}
	var b strings.Builder
	targets(&b, []result{
		idle("ssehub", "idle, 5000 subscribers", 5000, 5<<10),
		idle("peer", "idle, 5000 subscribers", 5000, 25<<10),
		idle("ssehub", "target: idle, 19000 subscribers", 19000, 4<<10),
	})
	want := "| RSS per idle subscriber ≤ 1/4 of the best peer's | 5.0 KiB vs peer's 25.0 KiB (×0.20) at 5000 connections | met |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("targets lack %q:\n%s", want, b.String())
	}
}
