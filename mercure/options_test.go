package mercure

import (
	"errors"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// TestNewNamesTheOption: every refusal of New is an *OptionError naming the
// field, which callers map to their own names for it (cmd/ssehub's flags).
func TestNewNamesTheOption(t *testing.T) {
	h, err := hub.New(hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(t.Context()) })
	good := Options{Hub: h, PublisherKey: testHMACKey, SubscriberKey: testHMACKey}
	for _, tc := range []struct {
		field string
		edit  func(*Options)
	}{
		{"Hub", func(o *Options) { o.Hub = nil }},
		{"PublisherKey", func(o *Options) { o.PublisherKey = nil }},
		{"PublisherKey", func(o *Options) { o.Algorithm = "RS256" }},
		{"SubscriberKey", func(o *Options) { o.SubscriberAlgorithm = "ES256" }},
		{"CORSOrigins", func(o *Options) { o.CORSOrigins = []string{"not an origin"} }},
		{"MaxSubscriptions", func(o *Options) { o.MaxSubscriptions = -1 }},
		{"MaxSubscriptionsPerClient", func(o *Options) { o.MaxSubscriptionsPerClient = -1 }},
	} {
		opts := good
		tc.edit(&opts)
		_, err := New(opts)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Field != tc.field || !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: New = %v (%#v), want an *OptionError for %s", tc.field, err, oe, tc.field)
		}
	}
	if _, err := New(good); err != nil {
		t.Fatalf("New(good options) = %v", err)
	}
}
