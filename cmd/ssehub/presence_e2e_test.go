//go:build unix

package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
	"github.com/ssehub/ssehub/jetstream/jstest"
	"github.com/ssehub/ssehub/redis/redistest"
)

// TestBinaryClusterPresence runs two hubs sharing a store with
// --subscriptions: the subscriptions API of either lists the subscribers
// of both, and when one hub is killed (kill -9: it removes nothing) the
// other marks its subscriptions inactive within --presence-ttl and a
// reaper round, announcing their end to its own subscribers.
func TestBinaryClusterPresence(t *testing.T) {
	for _, store := range []string{"redis", "nats"} {
		t.Run(store, func(t *testing.T) {
			storeArgs := sharedStore(t, store)
			const ttl = time.Second
			start := func() (*ssehubtest.Proc, string) {
				addr := ssehubtest.FreeAddr(t)
				args := append([]string{"--addr", addr, "--data", t.TempDir(), "--jwt-key", testKey, "--anonymous", "--demo=false",
					"--subscriptions", "--presence-ttl", ttl.String()}, storeArgs...)
				return ssehubtest.Start(t, nil, args...), "http://" + addr
			}
			a, baseA := start()
			_, baseB := start()
			tok := token(t, testKey, nil, []string{"*"}, time.Minute)
			topic := "https://example.com/presence"

			subscribe(t, newClient(t), baseA, "", "", topic)
			// B's own subscriber of the subscription events.
			watch := subscribe(t, newClient(t), baseB, tok, "", "*")
			listed := func(base string) []string {
				req, _ := http.NewRequest(http.MethodGet, base+"/.well-known/mercure/subscriptions", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := newClient(t).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var doc struct {
					Subscriptions []struct {
						Topic      string
						Subscriber string
						Active     bool
					}
				}
				if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&doc) != nil {
					t.Fatalf("GET subscriptions on %s: %s", base, resp.Status)
				}
				var topics []string
				for _, s := range doc.Subscriptions {
					topics = append(topics, s.Topic)
				}
				return topics
			}
			// A subscription is recorded in the store in the background
			// (its stream does not wait for it), so both hubs list both
			// within a while, not at once.
			for _, base := range []string{baseA, baseB} {
				deadline := time.Now().Add(10 * time.Second)
				for got := listed(base); !contains(got, topic) || !contains(got, "*"); got = listed(base) {
					if time.Now().After(deadline) {
						t.Fatalf("subscriptions listed by %s: %q, want A's %s and B's *", base, got, topic)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}

			a.Kill()
			deadline := time.Now().Add(3*ttl + 5*time.Second)
			for contains(listed(baseB), topic) {
				if time.Now().After(deadline) {
					t.Fatalf("B still lists the killed hub's subscription after %v", 3*ttl+5*time.Second)
				}
				time.Sleep(100 * time.Millisecond)
			}
			// B announces the end of A's subscription to its subscribers.
			for {
				ev := watch.next()
				if strings.Contains(ev.Data, `"active":false`) && strings.Contains(ev.Data, topic) {
					break
				}
			}
		})
	}
}

// sharedStore starts a store of the kind ("redis" or "nats") for the hubs
// of a test to share, and returns the flags that name it.
func sharedStore(t *testing.T, kind string) []string {
	switch kind {
	case "redis":
		return []string{"--redis", redistest.Start(t, redistest.Options{}).URL()}
	case "nats":
		return []string{"--nats", jstest.Start(t).URL()}
	}
	t.Fatalf("no store %q", kind)
	return nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
