package reliability

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
)

// TestAuthorizationAttacks sends forged and insufficient tokens to the
// binary as configured in production (no anonymous subscribers): each is
// answered 401 or 403, and nothing is published.
func TestAuthorizationAttacks(t *testing.T) {
	t.Parallel()
	h := startHub(t, "--data", t.TempDir(), "--jwt-key", jwtKey)
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	all := map[string]any{"publish": []string{"*"}, "subscribe": []string{"*"}}
	now := time.Now()
	tokens := map[string]struct {
		tok                string
		publish, subscribe int
	}{
		"no token":        {"", 401, 401},
		"alg none":        {sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"mercure": all}), 401, 401},
		"other secret":    {sign(jwt.SigningMethodHS256, []byte("not the key"), jwt.MapClaims{"mercure": all}), 401, 401},
		"HS512, same key": {sign(jwt.SigningMethodHS512, []byte(jwtKey), jwt.MapClaims{"mercure": all}), 401, 401},
		"expired":         {sign(jwt.SigningMethodHS256, []byte(jwtKey), jwt.MapClaims{"mercure": all, "exp": now.Add(-time.Minute).Unix()}), 401, 401},
		"not yet valid":   {sign(jwt.SigningMethodHS256, []byte(jwtKey), jwt.MapClaims{"mercure": all, "nbf": now.Add(time.Hour).Unix()}), 401, 401},
		"publish selector not covering the topic": {
			token(t, []string{"https://example.com/other/{id}"}, nil), 403, 200},
		"subscribe rights only": {token(t, nil, []string{"*"}), 403, 200},
	}
	ctx := context.Background()
	topic := "https://example.com/books/1"
	for name, tt := range tokens {
		_, err := publish(ctx, http.DefaultClient, h.url, tt.tok, url.Values{"topic": {topic}, "data": {name}})
		// An empty token sends no Authorization header.
		if re, ok := errors.AsType[*mercure.RefusedError](err); !ok || re.StatusCode != tt.publish {
			t.Errorf("%s: publish answered %v, want %d", name, err, tt.publish)
		}
		r, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/.well-known/mercure?topic="+url.QueryEscape(topic), nil)
		if tt.tok != "" {
			r.Header.Set("Authorization", "Bearer "+tt.tok)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.subscribe {
			t.Errorf("%s: subscribe %d, want %d", name, resp.StatusCode, tt.subscribe)
		}
	}
	// None of the refused publishes reached the history: replaying it
	// all yields only the update published with a valid token.
	if _, err := publish(ctx, http.DefaultClient, h.url, token(t, []string{topic}, nil), url.Values{"topic": {topic}, "data": {"valid"}}); err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/.well-known/mercure?topic=*&lastEventID=earliest", nil)
	r.Header.Set("Authorization", "Bearer "+token(t, nil, []string{"*"}))
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for ev, err := range sse.Events(resp.Body) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Data != "valid" {
			t.Fatalf("a refused publish was stored: %+v", ev)
		}
		break
	}
}
