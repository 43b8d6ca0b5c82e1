package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
