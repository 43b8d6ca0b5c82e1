package main

import (
	"fmt"
	"strings"
)

// yardstick is the server that is no peer: the floor under every
// server's figures (bench/peers/floor.go), left out of "best peer".
const yardstick = "floor"

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
	// bestPeer returns the peer with the best figure in the scenarios
	// that match, lower or higher being better as lower says. ssehub in
	// its other modes (ssehub-memory) is no peer either.
	bestPeer := func(match func(result) bool, value func(result) (float64, bool), lower bool) (float64, string) {
		var best float64
		name := ""
		for _, r := range rs {
			if strings.HasPrefix(r.Name, baseline) || r.Name == yardstick || r.Failed != "" || !match(r) {
				continue
			}
			v, ok := value(r)
			if !ok {
				continue
			}
			if name == "" || (lower && v < best) || (!lower && v > best) {
				best, name = v, r.Name
			}
		}
		return best, name
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	floorNote := func(prefix string, f func(*result) string) string {
		if r := find(prefix, yardstick); r != nil {
			return "; floor: " + f(r)
		}
		return ""
	}
	b.WriteString("## Targets\n\n| target | measured | verdict |\n|---|---|---|\n")
	if r := find("target: idle", baseline); r != nil && r.Server != nil {
		v := r.Server.RSSPerConnByte / 1024
		fmt.Fprintf(b, "| RSS per idle subscriber ≤ 6 KiB at 19,000 connections | %.1f KiB (%d connected) | %s |\n", v, r.Connected, verdict(v <= 6 && r.Connected >= 19000))
	} else {
		b.WriteString("| RSS per idle subscriber ≤ 6 KiB at 19,000 connections | not run | – |\n")
	}
	rssPerConn := func(r result) (float64, bool) {
		if r.Server == nil {
			return 0, false
		}
		return r.Server.RSSPerConnByte, true
	}
	// The relative memory target is checked at the target size when the
	// peers ran there too, else at the size they ran at.
	isIdle := func(r result) bool { return r.Mode == "idle" && strings.HasPrefix(r.Scenario, "target: idle") }
	if _, name := bestPeer(isIdle, rssPerConn, true); name == "" {
		isIdle = func(r result) bool { return r.Mode == "idle" && !strings.HasPrefix(r.Scenario, "target:") }
	}
	if best, name := bestPeer(isIdle, rssPerConn, true); name != "" {
		for _, r := range rs {
			if own, ok := rssPerConn(r); ok && r.Name == baseline && isIdle(r) {
				fmt.Fprintf(b, "| RSS per idle subscriber ≤ 1/4 of the best peer's | %.1f KiB vs %s's %.1f KiB (×%.2f) at %d connections | %s |\n",
					own/1024, name, best/1024, own/best, r.Connections, verdict(own*4 <= best))
			}
		}
	}
	const flat = "target: fanout, 10000 subscribers, flat"
	if r := find(flat, baseline); r != nil {
		fmt.Fprintf(b, "| fan-out to 10,000 subscribers ≥ 1,000,000 deliveries/s | %.0f/s (%d connected, %d lost) | %s |\n",
			r.DeliveryRate, r.Connected, r.Lost, verdict(r.DeliveryRate >= 1e6 && r.Lost == 0))
		inFlat := func(r result) bool { return strings.HasPrefix(r.Scenario, flat) }
		if best, name := bestPeer(inFlat, func(r result) (float64, bool) { return r.DeliveryRate, true }, false); name != "" {
			fmt.Fprintf(b, "| fan-out to 10,000 subscribers ≥ 3 × the best peer's | %.0f/s vs %s's %.0f/s (×%.2f) | %s |\n",
				r.DeliveryRate, name, best, r.DeliveryRate/best, verdict(r.DeliveryRate >= 3*best))
		}
	}
	const paced = "target: fanout, 10000 subscribers, 10"
	if r := find(paced, baseline); r != nil && r.LatencyMs != nil {
		floor := floorNote(paced, func(f *result) string {
			if f.LatencyMs == nil {
				return "–"
			}
			return fmt.Sprintf("%.1f ms", f.LatencyMs.P99)
		})
		fmt.Fprintf(b, "| p99 latency ≤ 50 ms at 10 updates/s to 10,000 subscribers | %.1f ms (%.1f updates/s published)%s | %s |\n",
			r.LatencyMs.P99, r.PublishRate, floor, verdict(r.LatencyMs.P99 <= 50))
		inPaced := func(r result) bool { return strings.HasPrefix(r.Scenario, paced) }
		if best, name := bestPeer(inPaced, latencyOf(func(l *latency) float64 { return l.P99 }), true); name != "" {
			fmt.Fprintf(b, "| that p99 ≤ 1/3 of the best peer's | %.1f ms vs %s's %.1f ms (×%.2f)%s | %s |\n",
				r.LatencyMs.P99, name, best, r.LatencyMs.P99/best, floor, verdict(3*r.LatencyMs.P99 <= best))
		}
	}
	if r := find("publish only", baseline); r != nil {
		beside := ""
		if m := find("publish only", "mercure"); m != nil && m.PublishRate > 0 {
			beside = fmt.Sprintf("; Mercure's bolt transport: %.0f/s (ssehub ×%.1f)", m.PublishRate, r.PublishRate/m.PublishRate)
		}
		fmt.Fprintf(b, "| durable publishes ≥ 20,000/s | %.0f/s (%d errors)%s | %s |\n", r.PublishRate, r.PublishErrors, beside, verdict(r.PublishRate >= 20000))
	}
	b.WriteString("\n")
}

// notes says what differs between the servers.
const notes = `## What differs between the servers

- **Durability.** ssehub (bolt log) and mercure (bolt transport) store
  every update and sync it to disk before answering the publish; go-sse,
  r3labs, eventsource and mercure-local keep nothing, and ssehub-memory
  (the same binary with --memory) keeps its history in memory only. Publish
  latency and publish rates of the durable ones follow the disk: see the
  synced-write figure above. Compare in-memory servers with ssehub-memory.
- **floor** is no library and no peer: a yardstick that takes each
  subscriber's connection over and answers a publish with one write(2)
  per subscriber and nothing else (no queue, history, authorization or
  heartbeat). At a paced rate its figures are what the kernel and the
  generator cost on this machine: no server writing each event as it
  comes can do better here. Flat out it is no bound: it writes every
  event on its own, where a server that queues can write several in one
  go. "Best peer" leaves it out.
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
- **The generator** reads its subscribers from one epoll loop per core,
  with no goroutine per connection and about 2 KiB of memory per
  connection (the idle tables have its RSS). Two thirds of its CPU is
  read(2), one read per event per connection, and a good part of that
  is the ACK the kernel sends back for each read. Its CPU is in every
  table. It is CPU the server does not get, since both share the
  machine's two cores, so the figures are the pair's, not the server's
  ceiling. The floor server shows what the pair costs with nothing
  between the publish and the writes.
- **Lost and late.** "lost" counts updates a connection will not get: ones
  skipped over (a later one arrived first; one publisher only) and
  everything owed to a connection the server closed. "late at end" counts
  updates a live connection had not received when the generator stopped
  waiting (--drain, 5 s after the last publish): a server that is behind,
  not necessarily one that drops.
`
