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
