package main

import (
	"fmt"
	"strings"
)

// targets writes the targets beside what the run measured. The
// scenarios are found by the names run.sh gives them.
func targets(b *strings.Builder, rs []result) {
	find := func(prefix, name string) *result {
		for i := range rs {
			if strings.HasPrefix(rs[i].Scenario, prefix) && rs[i].Name == name && rs[i].Failed == "" {
				return &rs[i]
			}
		}
		return nil
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	b.WriteString("## Targets\n\n| target | measured | verdict |\n|---|---|---|\n")
	if r := find("target: idle", baseline); r != nil && r.Server != nil {
		v := r.Server.RSSPerConnByte / 1024
		fmt.Fprintf(b, "| RSS per idle subscriber ≤ 6 KiB at 19,000 connections | %.1f KiB (%d connected) | %s |\n", v, r.Connected, verdict(v <= 6 && r.Connected >= 19000))
	} else {
		b.WriteString("| RSS per idle subscriber ≤ 6 KiB at 19,000 connections | not run | – |\n")
	}
	var own, best float64
	bestName := ""
	for _, r := range rs {
		if r.Mode != "idle" || strings.HasPrefix(r.Scenario, "target:") || r.Server == nil || r.Failed != "" {
			continue
		}
		v := r.Server.RSSPerConnByte
		if r.Name == baseline {
			own = v
		} else if bestName == "" || v < best {
			best, bestName = v, r.Name
		}
	}
	if own > 0 && bestName != "" {
		fmt.Fprintf(b, "| RSS per idle subscriber ≤ 1/4 of the best peer's | %.1f KiB vs %s's %.1f KiB (×%.2f) | %s |\n",
			own/1024, bestName, best/1024, own/best, verdict(own*4 <= best))
	}
	if r := find("target: fanout, 10000 subscribers, flat", baseline); r != nil {
		fmt.Fprintf(b, "| fan-out to 10,000 subscribers ≥ 1,000,000 deliveries/s | %.0f/s (%d connected, %d lost) | %s |\n",
			r.DeliveryRate, r.Connected, r.Lost, verdict(r.DeliveryRate >= 1e6 && r.Lost == 0))
	}
	if r := find("target: fanout, 10000 subscribers, 10", baseline); r != nil && r.LatencyMs != nil {
		fmt.Fprintf(b, "| p99 latency ≤ 50 ms at 10 updates/s to 10,000 subscribers | %.1f ms (%.1f updates/s published) | %s |\n",
			r.LatencyMs.P99, r.PublishRate, verdict(r.LatencyMs.P99 <= 50))
	}
	if r := find("publish only", baseline); r != nil {
		fmt.Fprintf(b, "| durable publishes ≥ 20,000/s | %.0f/s (%d errors) | %s |\n", r.PublishRate, r.PublishErrors, verdict(r.PublishRate >= 20000))
	}
	b.WriteString("\n")
}

// notes says what differs between the servers.
const notes = `## What differs between the servers

- **Durability.** ssehub (bolt log) and mercure (bolt transport) store
  every update and sync it to disk before answering the publish; go-sse,
  r3labs, eventsource and mercure-local keep nothing (ssehub has no
  in-memory mode in its binary). Publish latency and publish rates of the
  durable ones follow the disk: see the synced-write figure above.
- **Authorization.** Both hubs verify a JWT on every subscribe and
  publish; the adapters of the three plain libraries ignore tokens.
- **Adapters** (bench/peers): r3labs serves one stream per connection
  (the first topic) with replay turned off; go-sse's head is flushed on
  subscribe (it otherwise waits for the first event); every adapter gives
  updates an id as the hubs do.
- **Ordering.** With several publishers, updates sent at the same time
  may be stored in either order, so "out of order" then counts concurrent
  publishes overtaking each other, not reordering by the server. Only the
  one-publisher scenario checks order and tells losses from late arrivals
  exactly; duplicates are exact in every scenario.
- **Noise.** The machine is shared with other work (see the load
  averages): between runs of the same code, tail latencies and flat-out
  rates have differed by up to several times. Compare servers within one
  run, where they met the same conditions, rather than across runs.
- **Rates.** Scenarios at a fixed rate hold it only while the publishers
  keep up; "publishes/s" says what was achieved.
- **The generator** holds one goroutine and 4 KiB of buffers per
  connection (its RSS per connection is in the idle tables) and spends
  about two thirds of its CPU in read(2), one read per event per
  connection. In the flat-out scenarios it takes 60–90 % of a core of the
  two the machine has, CPU the server does not get: those figures are
  the pair's, not the server's ceiling.
- **Lost and late.** "lost" counts updates a connection will not get: ones
  skipped over (a later one arrived first; one publisher only) and
  everything owed to a connection the server closed. "late at end" counts
  updates a live connection had not received when the generator stopped
  waiting (--drain, 5 s after the last publish): a server that is behind,
  not necessarily one that drops.
`
