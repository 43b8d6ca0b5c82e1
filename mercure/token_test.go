package mercure

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewTokenVerifies(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	v, err := newVerifier("publisher", key, "HS256")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := NewToken(key, Claims{Publish: []string{"https://example.com/{id}"}}, "alice", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !slices.Equal(c.Publish, []string{"https://example.com/{id}"}) || len(c.Subscribe) != 0 {
		t.Errorf("claims = %+v", c)
	}
	if d := c.exp.Sub(now.Add(time.Hour)); d < -time.Second || d > time.Second {
		t.Errorf("expiry = %v, want about %v", c.exp, now.Add(time.Hour))
	}
	body, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	// Other hubs prefer the namespaced claim when present: it must be absent,
	// not null, and the lists must be lists, not null.
	for _, bad := range []string{"mercure.rocks", "null"} {
		if strings.Contains(string(body), bad) {
			t.Errorf("token body %s contains %q", body, bad)
		}
	}

	expired, err := NewToken(key, Claims{Publish: []string{"*"}}, "", now.Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.verify(context.Background(), expired); err == nil {
		t.Error("an expired token verified")
	}
	if _, err := NewToken(nil, Claims{}, "", now, 0); err == nil {
		t.Error("NewToken accepted an empty key")
	}
}
