package web_test

import (
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/mercure"
)

// TestNodeDiscoveryLinkMatchesGo: ssehub.js's mercureLinks reads back what
// mercure.DiscoveryLink writes (Mercure 1.0, "Hub Discovery"), among other
// links of the same field: random IDs, types and content types made of the
// characters a Link value makes special (quotes, backslashes, commas,
// semicolons, equals signs, spaces, angle brackets), and non-ASCII text.
func TestNodeDiscoveryLinkMatchesGo(t *testing.T) {
	nodePath := node(t)
	pieces := []string{"a", "1", "urn:uuid:", `"`, `\`, `\"`, ",", ";", "=", " ", "<", ">", "rel=mercure", "é", "世", "#", "'", "*"}
	hubs := []string{"/.well-known/mercure", "https://hub.example/.well-known/mercure", "../hub?x=1;y=2"}
	const base = "https://example.com/books/1"
	type link struct {
		Href        string `json:"href"`
		LastEventID string `json:"lastEventId"`
		Type        string `json:"type"`
		ContentType string `json:"contentType"`
	}
	type testCase struct {
		Value string `json:"value"`
		Base  string `json:"base"`
		Want  []link `json:"want"`
	}
	rnd := rand.New(rand.NewPCG(14, 14))
	attr := func() string {
		if rnd.IntN(4) == 0 {
			return "" // left out
		}
		var b strings.Builder
		for range 1 + rnd.IntN(8) {
			b.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		return b.String()
	}
	b, _ := url.Parse(base)
	cases := make([]testCase, 2000)
	for i := range cases {
		var values []string
		c := testCase{Base: base, Want: []link{}}
		for range 1 + rnd.IntN(3) {
			if rnd.IntN(3) == 0 {
				values = append(values, `</books/1.jsonld>; rel="self"; title="a, \"b\"; c"`)
			}
			hub := hubs[rnd.IntN(len(hubs))]
			l := link{LastEventID: attr(), Type: attr(), ContentType: attr()}
			values = append(values, mercure.DiscoveryLink(hub, l.LastEventID, l.Type, l.ContentType))
			h, err := b.Parse(hub)
			if err != nil {
				t.Fatal(err)
			}
			l.Href = h.String()
			c.Want = append(c.Want, l)
		}
		c.Value = strings.Join(values, ", ")
		cases[i] = c
	}
	data, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "links.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), nodePath, "jstest/links.mjs", path).CombinedOutput()
	if err != nil {
		t.Fatalf("mercureLinks and mercure.DiscoveryLink disagree: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
