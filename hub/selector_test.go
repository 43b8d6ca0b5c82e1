package hub_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// prefixMatcher is a selector syntax of this test: "p:X" matches the topics
// starting with X. It stands for another kind of matcher, such as Mercure
// 1.0's URL patterns, plugged in through Options.Syntaxes.
type prefixMatcher string

func (p prefixMatcher) Match(t string) bool           { return strings.HasPrefix(t, string(p)) }
func (p prefixMatcher) LiteralPrefix() (string, bool) { return string(p), false }

func TestSyntaxPlugsIn(t *testing.T) {
	compiled := 0
	h := newHub(t, hub.Options{Syntaxes: map[string]hub.Compiler{
		"prefix": func(text string) (hub.Matcher, error) {
			compiled++
			if strings.HasSuffix(text, "!") {
				return nil, errors.New("no bangs")
			}
			return prefixMatcher(text), nil
		},
	}})
	ctx := context.Background()
	sel := hub.Selector{Syntax: "prefix", Text: "https://example.com/books/"}
	r1, r2 := newRecorder(), newRecorder()
	startRun(t, subscribe(t, h, hub.Subscription{Selectors: []hub.Selector{sel}}), r1)
	startRun(t, subscribe(t, h, hub.Subscription{Selectors: []hub.Selector{sel}, Topics: []string{"x"}}), r2)
	if compiled != 1 {
		t.Errorf("the selector was compiled %d times for two subscribers, want once", compiled)
	}
	publish(t, h, &hub.Update{ID: "no", Topics: []string{"https://example.com/authors/1"}})
	publish(t, h, &hub.Update{ID: "yes", Topics: []string{"https://example.com/books/1/2"}})
	for _, r := range []*recorder{r1, r2} {
		if got := idsOf(r.waitFor(t, 1)); len(got) != 1 || got[0] != "yes" {
			t.Errorf("got %q, want [yes]", got)
		}
	}
	if st := h.Stats(); st.Templates != 1 {
		t.Errorf("Stats.Templates = %d, want 1", st.Templates)
	}

	for _, bad := range []hub.Selector{{Syntax: "prefix", Text: "x!"}, {Syntax: "regex", Text: "x"}} {
		_, err := h.Subscribe(ctx, hub.Subscription{Selectors: []hub.Selector{bad}})
		if !errors.Is(err, hub.ErrInvalidSubscription) {
			t.Errorf("Subscribe(%v): %v, want ErrInvalidSubscription", bad, err)
		}
	}
}

// TestMaxSelectors: distinct selectors beyond Options.MaxSelectors are
// refused with ErrTooManySelectors; shared ones cost nothing more, and a
// closed subscriber's are freed.
func TestMaxSelectors(t *testing.T) {
	h := newHub(t, hub.Options{MaxSelectors: 3})
	ctx := context.Background()
	a, err := h.Subscribe(ctx, hub.Subscription{Topics: []string{"a/{x}", "b"}, Authorized: []string{"c/{x}"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(ctx, hub.Subscription{Topics: []string{"d"}}); !errors.Is(err, hub.ErrTooManySelectors) {
		t.Fatalf("a fourth distinct selector: %v, want ErrTooManySelectors", err)
	}
	b, err := h.Subscribe(ctx, hub.Subscription{Topics: []string{"a/{x}", "c/{x}"}, Authorized: []string{"b"}, LastEventID: hub.EarliestID})
	if err != nil {
		t.Fatalf("selectors held already: %v", err)
	}
	a.Close()
	b.Close()
	if _, err := h.Subscribe(ctx, hub.Subscription{Topics: []string{"d", "e", "f"}}); err != nil {
		t.Fatalf("after the others closed: %v", err)
	}
}
