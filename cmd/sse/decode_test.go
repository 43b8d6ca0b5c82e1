package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// decodeCmd runs 'sse decode args...' in-process on stdin.
func decodeCmd(t *testing.T, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"decode"}, args...), env{stdin: stdin, stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

const sampleStream = "\xEF\xBB\xBF: comment\n" +
	"retry: 2500\n" +
	"id: 1\nevent: add\ndata: first\ndata: <second> & \"third\"\n\n" +
	"data: no id field\r\n\r\n" +
	"id\rdata: bad \xF0\x9F\x98 utf-8 \x1b[2J\r\r" +
	"event: ignored\n\n" +
	"data: unterminated"

func TestDecodeJSON(t *testing.T) {
	code, out, errOut := decodeCmd(t, strings.NewReader(sampleStream), "--json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := `{"retry":2500}
{"type":"add","data":"first\n<second> & \"third\"","id":"1"}
{"type":"message","data":"no id field","id":"1"}
{"type":"message","data":"bad ` + "\uFFFD" + ` utf-8 \u001b[2J","id":""}
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	for line := range strings.Lines(out) {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("line %q is not a JSON object: %v", line, err)
		}
	}
}

func TestDecodeHuman(t *testing.T) {
	code, out, errOut := decodeCmd(t, strings.NewReader(sampleStream))
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := "retry: 2500 ms\n\n" +
		"event: add  id: 1\n  first\n  <second> & \"third\"\n\n" +
		"event: message  id: 1\n  no id field\n\n" +
		"event: message\n  bad \uFFFD utf-8 \\x1b[2J\n\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestDecodeFileArgument(t *testing.T) {
	path := filepath.Join(t.TempDir(), "body.txt")
	if err := os.WriteFile(path, []byte("data: from file\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := decodeCmd(t, strings.NewReader("data: from stdin\n\n"), "--json", path)
	if want := `{"type":"message","data":"from file","id":""}` + "\n"; code != 0 || out != want {
		t.Errorf("FILE: exit %d, output %q, want %q", code, out, want)
	}
	code, out, _ = decodeCmd(t, strings.NewReader("data: from stdin\n\n"), "--json", "-")
	if want := `{"type":"message","data":"from stdin","id":""}` + "\n"; code != 0 || out != want {
		t.Errorf("-: exit %d, output %q, want %q", code, out, want)
	}
}

func TestDecodeExitStatus(t *testing.T) {
	tests := []struct {
		name    string
		stdin   io.Reader
		args    []string
		code    int
		stdout  string
		stderrs []string // substrings of stderr
	}{
		{"empty input", strings.NewReader(""), nil, 0, "", nil},
		{"missing file", strings.NewReader(""), []string{"/nonexistent/body"}, 1, "", []string{"/nonexistent/body"}},
		{"two files", strings.NewReader(""), []string{"a", "b"}, 2, "", []string{"usage: sse decode"}},
		{"unknown flag", strings.NewReader(""), []string{"--bogus"}, 2, "", []string{"bogus"}},
		{"bad max size", strings.NewReader(""), []string{"--max-size", "0"}, 2, "", []string{"usage"}},
		{"help", strings.NewReader(""), []string{"-h"}, 0, "", []string{"--json"}},
		{"line over the limit", strings.NewReader("data: ok\n\ndata: 0123456789abcdef\n\n"), []string{"--json", "--max-size", "16"}, 1,
			`{"type":"message","data":"ok","id":""}` + "\n", []string{"standard input", "too large", "16 bytes", "--max-size"}},
		{"data over the default limit", strings.NewReader(strings.Repeat("data: 0123456789abcdef\n", sse.DefaultMaxEventSize/16) + "\n"), nil, 1,
			"", []string{"too large", strconv.Itoa(sse.DefaultMaxEventSize)}},
		{"read error", io.MultiReader(strings.NewReader("data: a\n\n"), iotest.ErrReader(errors.New("connection reset"))), []string{"--json"}, 1,
			`{"type":"message","data":"a","id":""}` + "\n", []string{"reading standard input", "connection reset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := decodeCmd(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if out != tt.stdout {
				t.Errorf("stdout %q, want %q", out, tt.stdout)
			}
			for _, s := range tt.stderrs {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr %q does not mention %q", errOut, s)
				}
			}
		})
	}
}

// lineWriter reports every write on a channel.
type lineWriter struct{ writes chan string }

func (w lineWriter) Write(p []byte) (int, error) {
	w.writes <- string(p)
	return len(p), nil
}

func TestDecodeLivePipe(t *testing.T) {
	// The stream arrives one byte at a time; every event must be printed
	// when the byte that ends it arrives, before the next one is sent,
	// and nothing before that. A CRLF blank line ends the block at its CR:
	// the decoder must not wait for the LF.
	events := []struct{ wire, json string }{
		{"retry: 10\n", `{"retry":10}`},
		{"\nid: 1\ndata: a\n\n", `{"type":"message","data":"a","id":"1"}`},
		{"event: x\r\ndata: b\r\n\r\n", `{"type":"x","data":"b","id":"1"}`},
		{": ping\rdata: c\r\r", `{"type":"message","data":"c","id":"1"}`},
	}
	pr, pw := io.Pipe()
	out := lineWriter{writes: make(chan string, 16)}
	var errOut bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(context.Background(), []string{"decode", "--json"}, env{stdin: pr, stdout: out, stderr: &errOut})
	}()
	for _, ev := range events {
		last := len(ev.wire) - 1
		if strings.HasSuffix(ev.wire, "\r\n") {
			last--
		}
		for i := range len(ev.wire) {
			if _, err := pw.Write([]byte{ev.wire[i]}); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-out.writes:
				if i != last {
					t.Fatalf("printed %q before the end of its block", got)
				}
				if got != ev.json+"\n" {
					t.Fatalf("printed %q, want %q", got, ev.json)
				}
			default:
				if i == last {
					// The byte was read; the decoder may still be
					// printing it.
					select {
					case got := <-out.writes:
						if got != ev.json+"\n" {
							t.Fatalf("printed %q, want %q", got, ev.json)
						}
					case <-time.After(10 * time.Second):
						t.Fatalf("event %q not printed after its last byte", ev.json)
					}
				}
			}
		}
	}
	pw.Close()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if len(out.writes) != 0 {
		t.Errorf("extra output %q", <-out.writes)
	}
}

func TestDecodeInterrupt(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close() // ends the abandoned read
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"decode"}, env{stdin: pr, stdout: &out, stderr: &errOut}) }()
	cancel()
	if code := <-done; code != 130 {
		t.Fatalf("exit %d, want 130", code)
	}
	if !strings.Contains(errOut.String(), "interrupted") {
		t.Errorf("stderr %q", errOut.String())
	}
	// Input arriving after the interrupt is not printed.
	pw.Write([]byte("data: late\n\n"))
	pw.Close()
	if out.Len() != 0 {
		t.Errorf("printed %q after the interrupt", out.String())
	}
}
