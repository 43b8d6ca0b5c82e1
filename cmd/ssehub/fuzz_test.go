package main

import (
	"errors"
	"flag"
	"io"
	"net"
	"strings"
	"testing"
)

// FuzzParseConfig checks that any command line yields either a valid
// Config or a usage error, never a panic or a hang.
func FuzzParseConfig(f *testing.F) {
	f.Add("")
	f.Add("--addr\x00127.0.0.1:0\x00--jwt-key\x00k")
	f.Add("--publisher-jwt-key=p\x00--anonymous=false")
	f.Add("--jwt-alg\x00ES256\x00--jwt-key\x00-----BEGIN PUBLIC KEY-----")
	f.Add("--history-size\x00-1\x00--heartbeat\x000")
	f.Add("--cors-origins\x00https://a.example,*\x00--redis\x00redis://localhost:6379/0")
	f.Add("-h")
	f.Fuzz(func(t *testing.T, line string) {
		var args []string
		if line != "" {
			args = strings.Split(line, "\x00")
		}
		c, err := parseConfig(args, noEnv, io.Discard)
		var ue *usageError
		switch {
		case errors.Is(err, flag.ErrHelp):
			return
		case err != nil:
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), "-") && !strings.HasPrefix(err.Error(), "unexpected argument") {
				t.Fatalf("%q: error %v is not a usage error naming a flag", args, err)
			}
			return
		}
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			t.Errorf("%q: accepted --addr %q", args, c.Addr)
		}
		if c.HistorySize <= 0 || c.HistoryAge < 0 || c.Heartbeat < 0 || c.ShutdownTimeout <= 0 {
			t.Errorf("%q: accepted %+v", args, c)
		}
		if c.LogFormat != "text" && c.LogFormat != "json" {
			t.Errorf("%q: accepted --log-format %q", args, c.LogFormat)
		}
		if !c.GeneratesKey() && c.publisherKey() == "" {
			t.Errorf("%q: no publisher key", args)
		}
		if !c.Anonymous && !c.GeneratesKey() && c.subscriberKey() == "" {
			t.Errorf("%q: nobody could subscribe", args)
		}
	})
}

// FuzzByteSize checks the --history-bytes parser: no panic, no negative
// size, and what it prints it reads back alike.
func FuzzByteSize(f *testing.F) {
	for _, s := range []string{"0", "256MiB", "1G", "12K", "7B", "1023", "-1", "+5MiB", "MiB", "9223372036854775807", "8589934592GiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b byteSize
		if err := b.Set(s); err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("Set(%q) = %d", s, b)
		}
		var again byteSize
		if err := again.Set(b.String()); err != nil || again != b {
			t.Fatalf("Set(%q) = %d, printed %q, read back %d, %v", s, b, b.String(), again, err)
		}
	})
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "256MiB": 256 << 20, "1G": 1 << 30, "3KiB": 3 << 10, "5B": 5, "1000": 1000} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
}

// FuzzParseIssuer: an --issuer value is accepted only with an issuer, one
// key source and a pinned algorithm, and never panics.
func FuzzParseIssuer(f *testing.F) {
	for _, s := range []string{"https://a,key=s", "https://a,jwks=https://i/j,alg=ES256", "https://a,key=s,alg=HS512",
		"https://a,jwks=https://i/j", ",key=s", "https://a,key=s,key=t", "https://a,alg=none,key=s", "https://a,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		is, err := parseIssuer(v)
		if err != nil {
			return
		}
		if is.ID == "" || is.Alg == "" || is.Alg == "none" || (is.Key == "") == (is.JWKS == "") || is.JWKS != "" && hmacAlg(is.Alg) {
			t.Fatalf("parseIssuer(%q) = %+v", v, is)
		}
	})
}
