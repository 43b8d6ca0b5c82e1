package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

// FuzzParsePublishArgs checks that any command line for 'sse publish'
// yields a well-formed request or an error, never a panic.
func FuzzParsePublishArgs(f *testing.F) {
	f.Add("--url\x00http://localhost:8080\x00--topic\x00t\x00--data\x00x\x00--jwt-key\x00k")
	f.Add("--url=https://hub.example/.well-known/mercure\x00--topic=a\x00--topic=b\x00--data=\x00--token=t\x00--private\x00--retry=10")
	f.Add("--url\x00ftp://x\x00--topic\x00t\x00--data\x00x\x00--token\x00t")
	f.Add("--url\x00http://h\x00--topic\x00\x00--data\x00x\x00--token\x00t\x00--id\x00#x")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		cfg, err := parsePublishArgs(args, env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
		if err != nil {
			if errors.Is(err, flag.ErrHelp) || err.Error() != "" {
				return
			}
			t.Fatalf("%q: empty error", args)
		}
		if cfg.url == nil || cfg.url.Host == "" || (cfg.url.Scheme != "http" && cfg.url.Scheme != "https") || cfg.url.Path == "" {
			t.Errorf("%q: accepted URL %v", args, cfg.url)
		}
		if len(cfg.form["topic"]) == 0 || len(cfg.form["data"]) != 1 {
			t.Errorf("%q: form %v", args, cfg.form)
		}
		for _, tp := range cfg.form["topic"] {
			if tp == "" {
				t.Errorf("%q: empty topic accepted", args)
			}
		}
		if (cfg.token == "") == (cfg.key == "") {
			t.Errorf("%q: token %q, key %q: want exactly one", args, cfg.token, cfg.key)
		}
	})
}
