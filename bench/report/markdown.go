package main

import (
	"fmt"
	"math"
	"strings"
)

// baseline is the server every ratio is relative to.
const baseline = "ssehub"

// column is one figure of a table: its heading and how to get it.
type column struct {
	head  string
	value func(r result) (float64, bool)
	unit  string // printf verb and suffix
	ratio bool
}

func num(v float64) (float64, bool) { return v, true }

var (
	idleColumns = []column{
		{"connected", func(r result) (float64, bool) { return float64(r.Connected), true }, "%.0f", false},
		{"connect time", func(r result) (float64, bool) { return r.ConnectSeconds, true }, "%.2f s", true},
		{"server RSS / conn", func(r result) (float64, bool) {
			if r.Server == nil {
				return 0, false
			}
			return r.Server.RSSPerConnByte / 1024, true
		}, "%.1f KiB", true},
		{"server RSS", func(r result) (float64, bool) {
			if r.Server == nil {
				return 0, false
			}
			return float64(r.Server.RSSEndKiB) / 1024, true
		}, "%.0f MiB", true},
		{"server CPU", func(r result) (float64, bool) {
			if r.Server == nil {
				return 0, false
			}
			return r.Server.CPUSeconds, true
		}, "%.2f s", true},
		{"generator RSS / conn", func(r result) (float64, bool) {
			if r.Connected == 0 {
				return 0, false
			}
			return float64(r.Client.RSSEndKiB) / float64(r.Connected), true
		}, "%.1f KiB", false},
	}
	flowColumns = []column{
		{"connected", func(r result) (float64, bool) { return float64(r.Connected), true }, "%.0f", false},
		{"published", func(r result) (float64, bool) { return float64(r.Published), true }, "%.0f", false},
		{"publishes/s", func(r result) (float64, bool) { return num(r.PublishRate) }, "%.0f", true},
		{"deliveries/s", func(r result) (float64, bool) { return num(r.DeliveryRate) }, "%.0f", true},
		{"p50", latencyOf(func(l *latency) float64 { return l.P50 }), "%.1f ms", true},
		{"p90", latencyOf(func(l *latency) float64 { return l.P90 }), "%.1f ms", true},
		{"p99", latencyOf(func(l *latency) float64 { return l.P99 }), "%.1f ms", true},
		{"max", latencyOf(func(l *latency) float64 { return l.Max }), "%.1f ms", true},
		{"lost", func(r result) (float64, bool) { return float64(r.Lost), true }, "%.0f", false},
		{"late at end", func(r result) (float64, bool) { return float64(r.Undelivered), true }, "%.0f", false},
		{"dup", func(r result) (float64, bool) { return float64(r.Duplicated), true }, "%.0f", false},
		{"out of order", func(r result) (float64, bool) { return float64(r.OutOfOrder), true }, "%.0f", false},
		{"dropped conns", func(r result) (float64, bool) { return float64(r.Dropped), true }, "%.0f", false},
		{"server CPU", serverCPU, "%.0f %%", true},
		{"generator CPU", func(r result) (float64, bool) { return r.Client.CPUPercent, true }, "%.0f %%", false},
	}
	publishColumns = []column{
		{"published", func(r result) (float64, bool) { return float64(r.Published), true }, "%.0f", false},
		{"publishes/s", func(r result) (float64, bool) { return num(r.PublishRate) }, "%.0f", true},
		{"publish p50", pubLatency(func(l *latency) float64 { return l.P50 }), "%.2f ms", true},
		{"publish p99", pubLatency(func(l *latency) float64 { return l.P99 }), "%.2f ms", true},
		{"errors", func(r result) (float64, bool) { return float64(r.PublishErrors), true }, "%.0f", false},
		{"server CPU", serverCPU, "%.0f %%", true},
		{"generator CPU", func(r result) (float64, bool) { return r.Client.CPUPercent, true }, "%.0f %%", false},
	}
)

func serverCPU(r result) (float64, bool) {
	if r.Server == nil {
		return 0, false
	}
	return r.Server.CPUPercent, true
}

func latencyOf(f func(*latency) float64) func(result) (float64, bool) {
	return func(r result) (float64, bool) {
		if r.LatencyMs == nil {
			return 0, false
		}
		return f(r.LatencyMs), true
	}
}

func pubLatency(f func(*latency) float64) func(result) (float64, bool) {
	return func(r result) (float64, bool) {
		if r.PublishMs == nil {
			return 0, false
		}
		return f(r.PublishMs), true
	}
}

// table writes one scenario's results with ratios to those of the
// results named baseline.
func table(b *strings.Builder, rs []result, cols []column, baseline string) {
	var base *result
	for i := range rs {
		if rs[i].Name == baseline {
			base = &rs[i]
		}
	}
	b.WriteString("| server |")
	for _, c := range cols {
		b.WriteString(" " + c.head + " |")
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	for _, r := range rs {
		fmt.Fprintf(b, "| %s |", r.Name)
		if r.Failed != "" {
			fmt.Fprintf(b, " failed: %s |", strings.ReplaceAll(r.Failed, "|", "/"))
			for range cols[1:] {
				b.WriteString(" |")
			}
			b.WriteString("\n")
			continue
		}
		for _, c := range cols {
			v, ok := c.value(r)
			if !ok {
				b.WriteString(" – |")
				continue
			}
			cell := fmt.Sprintf(c.unit, v)
			if c.ratio && base != nil && r.Name != baseline {
				if bv, ok := c.value(*base); ok && bv != 0 && !math.IsNaN(v/bv) {
					cell += fmt.Sprintf(" (×%.2f)", v/bv)
				}
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
}

func markdown(rs []result, machine, commands, svg string) string {
	var b strings.Builder
	b.WriteString(`# Benchmarks

Generated by ` + "`bench/run.sh`" + ` (do not edit by hand): ssehub and other Go SSE
servers behind the same Mercure-shaped HTTP surface, loaded by the same
generator (` + "`sse bench`" + `) over loopback on one machine, each scenario on a
freshly started server. Figures in parentheses are ratios to ssehub's
(the figure divided by ssehub's): above 1 is more for throughput, worse
for time, memory and CPU. Latency is publish-to-receipt: the publisher
stamps each update's data with the time before its POST and every
subscriber subtracts it on receipt, so it includes the publish request.

To reproduce: ` + "`bench/run.sh`" + ` from the repository (about twenty minutes; the
sizes are variables at the top of the script, e.g.
` + "`IDLE_CONNS=10000 SERVERS=\"ssehub go-sse\" bench/run.sh`" + `). The raw JSON
lines are in ` + "`bench/results.jsonl`" + `.

`)
	b.WriteString("## Machine\n\n")
	for _, l := range strings.Split(strings.TrimSpace(machine), "\n") {
		if l != "" {
			b.WriteString("- " + l + "\n")
		}
	}
	b.WriteString(`
The generator and the server share the machine's cores (and, during
this run, other work on the machine: see the load averages), so these
figures are a side-by-side comparison under identical conditions, not
the servers' capacity on dedicated hardware.

`)
	targets(&b, rs)
	b.WriteString(notes)
	order, by := scenarios(rs)
	for _, s := range order {
		fmt.Fprintf(&b, "## %s\n\n", s)
		scenarioTable(&b, by[s], baseline, nil)
	}
	b.WriteString("## Latency chart\n\n")
	fmt.Fprintf(&b, "![publish-to-receipt latency percentiles per server and scenario](%s)\n\n", svg)
	b.WriteString("## Commands\n\n```sh\n" + strings.TrimSpace(commands) + "\n```\n")
	return b.String()
}

// scenarioTable writes one scenario's description and table, with ratios
// to the results named base; flow, if not nil, replaces the columns of the
// scenarios with subscribers and publishes.
func scenarioTable(b *strings.Builder, group []result, base string, flow []column) {
	if d := describe(group[0]); d != "" {
		b.WriteString(d + "\n\n")
	}
	switch {
	case group[0].Mode == "idle":
		table(b, group, idleColumns, base)
	case group[0].Connections == 0:
		table(b, group, publishColumns, base)
	case flow != nil:
		table(b, group, flow, base)
	default:
		table(b, group, flowColumns, base)
	}
	for _, r := range group {
		if r.ConnectError != "" {
			fmt.Fprintf(b, "\n%s, first connect error (%d failed): `%s`\n", r.Name, r.ConnectErrors, r.ConnectError)
		}
		if r.PublishError != "" {
			fmt.Fprintf(b, "\n%s, first publish error (%d failed): `%s`\n", r.Name, r.PublishErrors, r.PublishError)
		}
	}
	b.WriteString("\n")
}

// describe says what a scenario measured, from its parameters.
func describe(r result) string {
	switch {
	case r.Mode == "idle":
		return fmt.Sprintf("%d idle subscribers; the server's RSS per connection is (RSS with all connected − RSS before) / connections.", r.Connections)
	case r.Connections == 0:
		return "No subscribers: publishing alone, several concurrent publishers, every update stored."
	case r.Mode == "fanout":
		return fmt.Sprintf("%d subscribers on one topic; every update goes to all of them.", r.Connections)
	default:
		return fmt.Sprintf("%d subscribers on a topic each; every update goes to one random topic.", r.Connections)
	}
}
