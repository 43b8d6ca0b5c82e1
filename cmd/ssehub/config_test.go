package main

import (
	"errors"
	"flag"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// envOf returns a lookup function over vars.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Addr: "localhost:8080", DataDir: "ssehub-data", JWTAlg: "HS256",
		Anonymous: true, Demo: true, HistorySize: 100_000, Heartbeat: 15 * time.Second,
		LogFormat: "text", LogLevel: slog.LevelInfo, ShutdownTimeout: 10 * time.Second,
		ACMECA: defaultACMECA, ACMEHTTPAddr: ":80",
		MaxSelectorsPerClient: 1000, MaxSelectors: 100_000, HistoryBytes: 256 << 20,
		NATS:              NATSConfig{Stream: "SSEHUB"},
		AccessTokenCookie: "__Secure-mercure_access_token",
		DuplicateWindow:   2 * time.Minute,
		PresenceTTL:       15 * time.Second,
	}
	if !equalConfig(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if !c.GeneratesKey() || !c.DevDefaults() {
		t.Errorf("defaults: GeneratesKey %v, DevDefaults %v; want both", c.GeneratesKey(), c.DevDefaults())
	}
}

func equalConfig(a, b Config) bool {
	return reflect.DeepEqual(a, b)
}

func TestConfigEnvAndFlags(t *testing.T) {
	env := envOf(map[string]string{
		"SSEHUB_ADDR":          "127.0.0.1:9000",
		"SSEHUB_JWT_KEY":       "env key",
		"SSEHUB_HISTORY_SIZE":  "50",
		"SSEHUB_HISTORY_AGE":   "1h",
		"SSEHUB_CORS_ORIGINS":  "https://a.example, https://b.example",
		"SSEHUB_SUBSCRIPTIONS": "true",
		"SSEHUB_LOG_FORMAT":    "json",
		"SSEHUB_LOG_LEVEL":     "debug",
		"SSEHUB_DEMO":          "true",
		"SSEHUB_HEARTBEAT":     "0",
		"SSEHUB_NO_HIJACK":     "true",
	})
	c, err := parseConfig([]string{"--addr", "127.0.0.1:9001", "--history-size=60", "--demo=false"}, env, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	// The command line wins; the environment fills in the rest.
	if c.Addr != "127.0.0.1:9001" || c.HistorySize != 60 || c.Demo {
		t.Errorf("flags did not override the environment: %+v", c)
	}
	if c.JWTKey != "env key" || c.HistoryAge != time.Hour || !c.Subscriptions || c.LogFormat != "json" ||
		c.LogLevel != slog.LevelDebug || c.Heartbeat != 0 || !c.NoHijack ||
		!slices.Equal(c.CORSOrigins, []string{"https://a.example", "https://b.example"}) {
		t.Errorf("environment not applied: %+v", c)
	}
	// A configured key is not the development defaults: subscribers need
	// a token unless --anonymous says otherwise.
	if c.DevDefaults() || c.Anonymous {
		t.Errorf("with a key: DevDefaults %v, Anonymous %v; want false, false", c.DevDefaults(), c.Anonymous)
	}
	c, err = parseConfig([]string{"--anonymous"}, env, &strings.Builder{})
	if err != nil || !c.Anonymous {
		t.Errorf("--anonymous with a key: %v, %v", c.Anonymous, err)
	}
}

// TestConfigACMEDomains checks the repeatable --acme-domain: repeated or
// comma-separated, and on the command line replacing the environment's.
func TestConfigACMEDomains(t *testing.T) {
	env := envOf(map[string]string{"SSEHUB_ACME_DOMAIN": "a.example, b.example"})
	c, err := parseConfig(nil, env, &strings.Builder{})
	if err != nil || !slices.Equal(c.ACMEDomains, []string{"a.example", "b.example"}) || !c.TLS() {
		t.Errorf("from the environment: %q, TLS %v, %v", c.ACMEDomains, c.TLS(), err)
	}
	c, err = parseConfig([]string{"--acme-domain", "c.example", "--acme-domain", "d.example,e.example"}, env, &strings.Builder{})
	if err != nil || !slices.Equal(c.ACMEDomains, []string{"c.example", "d.example", "e.example"}) {
		t.Errorf("on the command line: %q, %v", c.ACMEDomains, err)
	}
}

// The Mercure 1.0 flags, as the reference's conformance suite runs the hub.
func TestConfigMercure1(t *testing.T) {
	c, err := parseConfig([]string{"--jwt-key", "k", "--jwt-issuer", "https://localhost", "--jwt-issuer", "https://other",
		"--resource-identifier", "https://localhost/.well-known/mercure", "--protocol", "1", "--access-token-cookie", "mercure_access_token"}, envOf(nil), &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.JWTIssuers, []string{"https://localhost", "https://other"}) || c.ResourceIdentifier != "https://localhost/.well-known/mercure" ||
		c.Protocol != 1 || c.AccessTokenCookie != "mercure_access_token" {
		t.Errorf("Mercure 1.0 flags: %+v", c)
	}
	c, err = parseConfig(nil, envOf(nil), &strings.Builder{})
	if err != nil || c.Protocol != 0 || c.AccessTokenCookie != "__Secure-mercure_access_token" || c.JWTIssuers != nil || c.ResourceIdentifier != "" {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

func TestConfigDevDefaultsNeedLoopback(t *testing.T) {
	for addr, dev := range map[string]bool{
		"localhost:8080": true, "127.0.0.1:0": true, "[::1]:80": true, "127.9.9.9:1": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:80": false, "example.com:80": false, "192.168.1.2:80": false,
	} {
		c, err := parseConfig([]string{"--addr", addr}, noEnv, &strings.Builder{})
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if c.DevDefaults() != dev || c.Anonymous != dev || c.Demo != dev {
			t.Errorf("--addr %s: DevDefaults %v, Anonymous %v, Demo %v; want %v", addr, c.DevDefaults(), c.Anonymous, c.Demo, dev)
		}
	}
}

func TestConfigKeysPerRole(t *testing.T) {
	c, err := parseConfig([]string{"--jwt-key", "both", "--subscriber-jwt-key", "sub"}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if c.publisherKey() != "both" || c.subscriberKey() != "sub" || c.Anonymous {
		t.Errorf("publisher %q, subscriber %q, anonymous %v", c.publisherKey(), c.subscriberKey(), c.Anonymous)
	}
	// Without a subscriber key, anonymous is the only way in, so it is the
	// default.
	c, err = parseConfig([]string{"--publisher-jwt-key", "pub"}, noEnv, &strings.Builder{})
	if err != nil || c.subscriberKey() != "" || !c.Anonymous {
		t.Errorf("publisher key only: subscriber %q, anonymous %v, err %v", c.subscriberKey(), c.Anonymous, err)
	}
}

func TestConfigPEMFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.pem")
	const pemText = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
	os.WriteFile(path, []byte(pemText), 0o600)
	c, err := parseConfig([]string{"--jwt-alg", "RS256", "--publisher-jwt-key", path, "--subscriber-jwt-key", pemText}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if c.PublisherKey != pemText || c.SubscriberKey != pemText {
		t.Errorf("keys %q, %q", c.PublisherKey, c.SubscriberKey)
	}
	// An HMAC secret is taken as it is, even if it looks like a path.
	c, err = parseConfig([]string{"--jwt-key", path}, noEnv, &strings.Builder{})
	if err != nil || c.JWTKey != path {
		t.Errorf("HS256 key %q, %v", c.JWTKey, err)
	}
}

func TestConfigInvalid(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "k.txt")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string // the message names the flag
	}{
		{[]string{"--addr", "8080"}, nil, "--addr"},
		{[]string{"--addr", "localhost:http"}, nil, "--addr"},
		{[]string{"--addr", "localhost:70000"}, nil, "--addr"},
		{[]string{"--addr", "localhost:0", "--reuse-port"}, nil, "--reuse-port"},
		{[]string{"--data", ""}, nil, "--data"},
		{[]string{"--jwt-alg", "none"}, nil, "--jwt-alg"},
		{[]string{"--jwt-alg", "HS1"}, nil, "--jwt-alg"},
		{[]string{"--jwt-alg", "RS256"}, nil, "--jwt-alg"}, // nothing to generate
		{[]string{"--jwt-alg", "RS256", "--jwt-key", "/does/not/exist.pem"}, nil, "--jwt-key"},
		{[]string{"--jwt-alg", "ES256", "--publisher-jwt-key", notPEM}, nil, "--publisher-jwt-key"},
		{[]string{"--subscriber-jwt-key", "s"}, nil, "--subscriber-jwt-key"},
		{[]string{"--jwt-key", "k", "--anonymous=false", "--publisher-jwt-key", "p", "--subscriber-jwt-key", ""}, nil, ""},
		{[]string{"--publisher-jwt-key", "p", "--anonymous=false"}, nil, "--anonymous"},
		{[]string{"--history-size", "0"}, nil, "--history-size"},
		{[]string{"--history-size", "many"}, nil, "-history-size"},
		{[]string{"--history-age", "-1s"}, nil, "--history-age"},
		{[]string{"--duplicate-window", "-1s"}, nil, "--duplicate-window"},
		{[]string{"--heartbeat", "-1s"}, nil, "--heartbeat"},
		{[]string{"--heartbeat", "15"}, nil, "-heartbeat"},
		{[]string{"--shutdown-timeout", "0s"}, nil, "--shutdown-timeout"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{[]string{"--cors-origins", "example.com"}, nil, "--cors-origins"},
		{[]string{"--redis", "http://localhost:6379"}, nil, "--redis"},
		{[]string{"--redis", "redis://localhost:6379/0", "--memory"}, nil, "--memory, --redis"},
		{[]string{"--nats", "http://localhost:4222"}, nil, "--nats"},
		{[]string{"--nats", "nats://localhost:4222,:4223"}, nil, "--nats"},
		{[]string{"--nats", "nats://localhost:4222", "--redis", "redis://localhost:6379/0"}, nil, "--memory, --redis and --nats"},
		{[]string{"--nats", "nats://localhost:4222", "--nats-replicas", "6"}, nil, "--nats-replicas"},
		{[]string{"--nats", "nats://localhost:4222", "--nats-cert", "c.pem"}, nil, "--nats-cert and --nats-key"},
		{[]string{"--nats", "nats://localhost:4222", "--nats-creds", "a", "--nats-nkey", "b"}, nil, "--nats-creds and --nats-nkey"},
		{[]string{"--nats", "nats://localhost:4222", "--nats-stream", "a.b"}, nil, "--nats-stream"},
		{[]string{"--nats-creds", "user.creds"}, nil, "--nats-creds: needs --nats"},
		{[]string{"--max-subscriptions", "-1"}, nil, "--max-subscriptions"},
		{[]string{"--max-subscriptions-per-client", "-1"}, nil, "--max-subscriptions-per-client"},
		{[]string{"--max-selectors-per-client", "-1"}, nil, "--max-selectors-per-client"},
		{[]string{"--max-selectors", "-1"}, nil, "--max-selectors"},
		{[]string{"--history-bytes", "1MiB"}, nil, "--history-bytes"},
		{[]string{"--memory", "--history-bytes", "lots"}, nil, "-history-bytes"},
		{[]string{"--memory", "--history-bytes", "-1"}, nil, "-history-bytes"},
		{[]string{"--memory", "--history-bytes", "9999999999GiB"}, nil, "-history-bytes"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,proxy.local"}, nil, "--trusted-proxies"},
		{[]string{"--anonymous=maybe"}, nil, "-anonymous"},
		{[]string{"--tls-cert", "c.pem"}, nil, "--tls-key"},
		{[]string{"--tls-key", "k.pem"}, nil, "--tls-cert"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-self-signed"}, nil, "--tls-self-signed and --tls-cert"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--acme-domain", "a.example"}, nil, "--acme-domain and --tls-cert"},
		{[]string{"--tls-self-signed", "--acme-domain", "a.example"}, nil, "--acme-domain and --tls-self-signed"},
		{[]string{"--tls-self-signed", "--h2c"}, nil, "--h2c"},
		{[]string{"--http3"}, nil, "--http3"},
		{[]string{"--tls-self-signed", "--data", "", "--redis", "redis://localhost:6379/0"}, nil, "--tls-self-signed"},
		{[]string{"--acme-domain", "https://a.example"}, nil, "--acme-domain"},
		{[]string{"--acme-domain", "a.example", "--acme-ca", "http://ca.example/dir"}, nil, "--acme-ca"},
		{[]string{"--acme-domain", "a.example", "--acme-http-addr", "80"}, nil, "--acme-http-addr"},
		{[]string{"--acme-domain", "a.example", "--acme-email", "nobody"}, nil, "--acme-email"},
		{[]string{"--protocol", "2"}, nil, "--protocol"},
		{[]string{"--resource-identifier", "/.well-known/mercure"}, nil, "--resource-identifier"},
		{[]string{"--jwt-issuer", ""}, nil, "-jwt-issuer"},
		{[]string{"--access-token-cookie", "a;b"}, nil, "--access-token-cookie"},
		{[]string{"--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"stray"}, nil, "stray"},
		{nil, map[string]string{"SSEHUB_HISTORY_SIZE": "lots"}, "SSEHUB_HISTORY_SIZE (--history-size)"},
		{nil, map[string]string{"SSEHUB_DEMO": "sometimes"}, "SSEHUB_DEMO (--demo)"},
		{nil, map[string]string{"SSEHUB_LOG_FORMAT": "xml"}, "--log-format"},
	} {
		_, err := parseConfig(tc.args, envOf(tc.env), &strings.Builder{})
		var ue *usageError
		if tc.want == "" {
			// Valid: an explicitly empty subscriber key falls back to
			// --jwt-key.
			if err != nil {
				t.Errorf("%q: %v", tc.args, err)
			}
			continue
		}
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %v: error %v, want a usage error naming %s", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestConfigHelp(t *testing.T) {
	var out strings.Builder
	_, err := parseConfig([]string{"-h"}, noEnv, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"--addr host:port  (env SSEHUB_ADDR)", "--jwt-key key  (env SSEHUB_JWT_KEY)",
		"--history-size int  (env SSEHUB_HISTORY_SIZE)", "(default 100000)", "--redis URL  (env SSEHUB_REDIS)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSsehubExitStatus(t *testing.T) {
	var stderr strings.Builder
	if code := ssehub([]string{"--history-size", "-5"}, noEnv, &stderr); code != 2 || !strings.Contains(stderr.String(), "--history-size") {
		t.Errorf("invalid flag: exit %d, stderr %q; want 2 naming the flag", code, stderr.String())
	}
	stderr.Reset()
	if code := ssehub([]string{"-h"}, noEnv, &stderr); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}

func TestConfigTrustedProxies(t *testing.T) {
	c, err := parseConfig([]string{"--trusted-proxies", " 10.1.2.3/8, 192.168.0.7 ,::1"}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.7/32"), netip.MustParsePrefix("::1/128")}
	if !slices.Equal(c.TrustedProxies, want) {
		t.Errorf("trusted proxies %v, want %v", c.TrustedProxies, want)
	}
}
