//go:build linux

package reliability

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
	"github.com/ssehub/ssehub/internal/netnstest"
	"github.com/ssehub/ssehub/redis/redistest"
)

// Bounds of TestVanishedSubscriber.
const (
	vanishHeartbeat = time.Second
	// vanishUserTimeout is the TCP_USER_TIMEOUT ssehub sets for that
	// heartbeat (cmd/ssehub/listen.go: twice the heartbeat, at least 30 s).
	vanishUserTimeout = 30 * time.Second
	// vanishKeepAlive is how long Go's TCP keep-alive, on by default on
	// accepted connections, takes to give up on a silent peer: 15 s idle,
	// then 9 probes 15 s apart (net's defaultTCPKeepAlive*).
	vanishKeepAlive = 15*time.Second + 9*15*time.Second
	// vanishSlack is what a loaded machine gets on top of the timers.
	vanishSlack = 45 * time.Second
	// vanishWait bounds the other waits of the test.
	vanishWait = 20 * time.Second
)

// vanishHub is a hub of TestVanishedSubscriber, with what must tell it of
// its subscriber's vanishing: a timer of the kernel that takes at least
// 0.9 × timer (nothing else could have told it sooner, a FIN or RST at
// once) and at most delay + timer + vanishSlack.
type vanishHub struct {
	name         string
	args         []string
	tls          bool // HTTPS with --tls-self-signed: subscribers speak HTTP/2
	timer, delay time.Duration
	*hubProc
	peer *http.Client // the peer's client of the hub
}

// TestVanishedSubscriber makes a subscriber of each of several hubs on one
// Redis vanish without a trace, and checks that each hub notices within
// its heartbeat and TCP_USER_TIMEOUT, frees the subscriber (its metrics
// count one less) and marks it inactive cluster-wide: no hub's
// subscriptions API lists it any more, and every hub's subscribers of the
// events get its "active": false update (Mercure spec, "Active
// Subscriptions"). The other subscribers get every update meanwhile. Hub A
// serves its subscribers on taken-over connections, B through net/http
// (--no-hijack), D over HTTP/2 (HTTPS): every way must notice. With
// SSEHUB_SOAK=1, hub C sends no
// heartbeats (--heartbeat 0), so sets no TCP_USER_TIMEOUT, and only TCP
// keep-alive, after two and a half minutes, tells it.
//
// How it vanishes: the subscribers run in a network namespace of their
// own (internal/netnstest), and every packet into or out of it is then
// dropped. That is what a hub sees when a client's machine loses power or
// its route goes dead: no FIN, no RST, and no ACK of anything the hub
// sends, so the hub's writes succeed into its socket buffer and only its
// own timers can tell. Nearer stand-ins are not the same thing: a killed
// or closing client's kernel sends a FIN or RST at once; a stopped client
// process (SIGSTOP) leaves its kernel acknowledging data and then
// answering zero-window probes, which is a stalled reader
// (TestStalledSubscriberDisconnected) and not a dead one; a link taken
// down on the hub's machine is a local event the hub's kernel sees.
func TestVanishedSubscriber(t *testing.T) {
	t.Parallel()
	peer := netnstest.Start(t)
	srv := redistest.Start(t, redistest.Options{})
	hb := []string{"--heartbeat", vanishHeartbeat.String()}
	hubs := []*vanishHub{
		{name: "A", args: hb, timer: vanishUserTimeout, delay: vanishHeartbeat},
		{name: "B", args: append(hb, "--no-hijack"), timer: vanishUserTimeout, delay: vanishHeartbeat},
		{name: "D", args: hb, tls: true, timer: vanishUserTimeout, delay: vanishHeartbeat},
	}
	if soak() {
		hubs = append(hubs, &vanishHub{name: "C", args: []string{"--heartbeat", "0"}, timer: vanishKeepAlive})
	}
	for _, h := range hubs {
		args := append([]string{"--addr", netip.AddrPortFrom(peer.Host, 0).String(), "--redis", srv.URL(),
			"--jwt-key", jwtKey, "--anonymous", "--subscriptions"}, h.args...)
		if !h.tls {
			h.hubProc = startHub(t, args...)
			h.peer = &http.Client{Transport: &http.Transport{DialContext: peer.DialContext}}
			continue
		}
		dir := t.TempDir()
		p := ssehubtest.Start(t, nil, append(args, "--data", dir, "--tls-self-signed")...)
		// The certificate is localhost's; the hub listens on the veth.
		tc := &tls.Config{RootCAs: selfSignedPool(t, dir), ServerName: "localhost"}
		h.hubProc = &hubProc{Proc: p, t: t, url: p.URL, client: &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}}
		h.peer = &http.Client{Transport: &http.Transport{DialContext: peer.DialContext, TLSClientConfig: tc, ForceAttemptHTTP2: true}}
	}
	topic := func(i int) string { return "https://example.com/vanish/" + hubs[i].name }
	const liveTopic = "https://example.com/vanish/live"
	tok := token(t, []string{"*"}, []string{"*"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var live, events []*watcher
	for i, h := range hubs {
		watch(t, ctx, h.peer, h.url, topic(i))
		live = append(live, watch(t, ctx, h.httpClient(), h.url, liveTopic))
		events = append(events, watchURL(t, ctx, h.httpClient(),
			h.url+"/.well-known/mercure?"+url.Values{"topic": {"*"}, "authorization": {tok}}.Encode()))
	}

	// Every hub lists every one of the peer's subscriptions before it
	// vanishes.
	deadline := time.Now().Add(vanishWait)
	for _, h := range hubs {
		for j := range hubs {
			for !listSubscriptions(t, h.hubProc, tok)[topic(j)] {
				if time.Now().After(deadline) {
					t.Fatalf("hub %s does not list %s's subscriber of the peer", h.name, hubs[j].name)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	// Each hub's count of its subscribers, and of those over HTTP/2 for
	// an HTTPS hub, whose peer must have spoken it.
	series := func(h *vanishHub) string {
		if h.tls {
			return `ssehub_subscribers_by_protocol{protocol="HTTP/2"}`
		}
		return "ssehub_subscribers"
	}
	var before []float64
	for _, h := range hubs {
		n, err := h.metric(series(h))
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, n)
	}

	// Updates keep flowing to the others meanwhile.
	var mu sync.Mutex
	var published []string
	pubCtx, stopPublishing := context.WithCancel(ctx)
	var pubDone sync.WaitGroup
	pubDone.Go(func() {
		for n := 0; pubCtx.Err() == nil; n++ {
			data := fmt.Sprintf("live-%d", n)
			h := hubs[n%len(hubs)]
			if _, err := publish(pubCtx, h.httpClient(), h.url, tok, url.Values{"topic": {liveTopic}, "data": {data}}); err != nil {
				if pubCtx.Err() == nil {
					t.Errorf("publish %s: %v", data, err)
				}
				return
			}
			mu.Lock()
			published = append(published, data)
			mu.Unlock()
			select {
			case <-pubCtx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	defer pubDone.Wait()
	defer stopPublishing()

	start := time.Now()
	peer.Vanish()
	// freed[i][j] is when hub i stopped listing hub j's subscriber.
	freed := make([][]time.Duration, len(hubs))
	var bound time.Duration
	for i, h := range hubs {
		freed[i] = make([]time.Duration, len(hubs))
		bound = max(bound, h.delay+h.timer+vanishSlack)
	}
	for left := len(hubs) * len(hubs); left > 0; {
		for i, h := range hubs {
			listed := listSubscriptions(t, h.hubProc, tok)
			for j := range hubs {
				if freed[i][j] == 0 && !listed[topic(j)] {
					freed[i][j] = time.Since(start)
					left--
				}
			}
		}
		if left > 0 && time.Since(start) > bound {
			t.Fatalf("after %v, a vanished subscriber is still listed (when hub i stopped listing hub j's, 0 for not yet: %v)\n%s", bound, freed, hubs[0].Tail(30))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, h := range hubs {
		var all []string
		for j, d := range freed[i] {
			all = append(all, fmt.Sprintf("%s's %v", hubs[j].name, d.Round(time.Millisecond)))
		}
		t.Logf("hub %s stopped listing the vanished subscribers after: %s", h.name, strings.Join(all, ", "))
		if got := freed[i][i]; got < h.timer*9/10 {
			t.Errorf("hub %s freed its vanished subscriber after %v, before its timer of %v: the peer did not vanish silently", h.name, got, h.timer)
		} else if got > h.delay+h.timer+vanishSlack {
			t.Errorf("hub %s freed its vanished subscriber after %v, more than %v", h.name, got, h.delay+h.timer+vanishSlack)
		}
	}

	// Each hub counts one subscriber less.
	for i, h := range hubs {
		for {
			n, err := h.metric(series(h))
			if err != nil {
				t.Fatal(err)
			}
			if n == before[i]-1 {
				break
			}
			if time.Since(start) > bound+vanishWait {
				t.Fatalf("hub %s: %s %v, want %v", h.name, series(h), n, before[i]-1)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Every hub's subscriber of the events hears of the end of every
	// vanished subscriber, its own hub's and the others' (subscription
	// events cross nodes through the store, issue 18).
	for i, w := range events {
		inactive := map[string]bool{}
		timeout := time.After(vanishWait)
		for len(inactive) < len(hubs) {
			select {
			case data := <-w.got:
				var ev struct {
					Type   string
					Topic  string
					Active bool
				}
				if json.Unmarshal([]byte(data), &ev) == nil && ev.Type == "Subscription" && !ev.Active && strings.HasPrefix(ev.Topic, "https://example.com/vanish/") && ev.Topic != liveTopic {
					inactive[ev.Topic] = true
				}
			case <-timeout:
				t.Fatalf("the events' subscriber on hub %s heard of the end of %v only", hubs[i].name, inactive)
			}
		}
	}

	// The others got every update, in order, and still do.
	stopPublishing()
	pubDone.Wait()
	final := "live-final"
	if _, err := publish(ctx, hubs[0].httpClient(), hubs[0].url, tok, url.Values{"topic": {liveTopic}, "data": {final}}); err != nil {
		t.Fatal(err)
	}
	want := append(published, final)
	for i, w := range live {
		timeout := time.After(vanishWait)
		for k := 0; k < len(want); k++ {
			select {
			case got := <-w.got:
				if got != want[k] {
					t.Fatalf("live subscriber of hub %s: update %d is %q, want %q", hubs[i].name, k, got, want[k])
				}
			case <-timeout:
				t.Fatalf("live subscriber of hub %s got %d of %d updates (%s)", hubs[i].name, k, len(want), strings.Join(want[max(0, k-2):k], ", "))
			}
		}
	}
	t.Logf("the live subscribers got all %d updates published meanwhile", len(want))
}

// listSubscriptions returns the topics of the subscriptions the hub's
// subscriptions API lists as active.
func listSubscriptions(t *testing.T, h *hubProc, tok string) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), vanishWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/.well-known/mercure/subscriptions", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := h.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Subscriptions []struct {
			Topic  string
			Active bool
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET subscriptions: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("GET subscriptions: %v", err)
	}
	topics := map[string]bool{}
	for _, s := range doc.Subscriptions {
		if s.Active {
			topics[s.Topic] = true
		}
	}
	return topics
}
