package web_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// TestNodeParserMatchesGo decodes random streams with the Go parser and has
// ssehub.js's createParser decode them in Node (jstest/compare.mjs): the two
// must agree on every event, retry and last event ID. The streams are made
// of the pieces where parsers go wrong: field names, colons and spaces, each
// line end, NUL, BOMs whole and cut, UTF-8 whole, cut and invalid, retry
// values at the limit.
func TestNodeParserMatchesGo(t *testing.T) {
	nodePath := node(t)
	pieces := []string{
		"data", "id", "event", "retry", "dat", ":", ": ", " ", "\r", "\n", "\r\n", "\n\n", "\r\r",
		"a", "x y", "1", "007", "9223372036854", "9223372036855", "\x00", "\t",
		"\xEF\xBB\xBF", "\xEF\xBB", "\xBF", "\xE2\x82", "\xAC", "\xF0\x9F\x98", "\x80",
		"\xFF", "\xC0\xAF", "\xED\xA0\x80", "é", "世", "😀", "\uFFFD",
		// Whole lines, so that fields with these values occur often.
		"data: x\n", "data\n", "event: e\n", "id: 7\n", "id\n", "id: a\x00b\n", ": c\n",
		"retry: 10\n", "retry: 9223372036854\n", "retry: 9223372036855\n", "retry: 1x\n", "\n",
	}
	rnd := rand.New(rand.NewPCG(16, 16))
	const cases = 4000
	vectors := make([]parsed, cases)
	for i := range vectors {
		var b strings.Builder
		for range rnd.IntN(24) {
			b.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		v, err := goDecode([]byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		vectors[i] = v
	}
	b, err := json.Marshal(vectors)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "random.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), nodePath, "jstest/compare.mjs", path).CombinedOutput()
	if err != nil {
		t.Fatalf("the parsers disagree: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// parsed is what a parser made of a stream, in the form of
// sse/testdata/decode.json.
type parsed struct {
	InBase64    []byte        `json:"inBase64,omitempty"`
	Events      []parsedEvent `json:"events"`
	Retries     []int64       `json:"retries"` // milliseconds
	LastEventID string        `json:"lastEventId"`
	Error       string        `json:"error,omitempty"`
}

type parsedEvent struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"id"`
}

// goDecode is what the Go parser makes of in.
func goDecode(in []byte) (parsed, error) {
	v := parsed{InBase64: in, Events: []parsedEvent{}, Retries: []int64{}}
	d := sse.NewDecoder(bytes.NewReader(in))
	d.OnRetry = func(r time.Duration) { v.Retries = append(v.Retries, r.Milliseconds()) }
	for e, err := range d.Events() {
		if err != nil {
			return v, fmt.Errorf("Go parser on %q: %w", in, err)
		}
		v.Events = append(v.Events, parsedEvent{e.Type, e.Data, e.ID})
	}
	v.LastEventID = d.LastEventID()
	return v, nil
}

// FuzzParserMatchesGo feeds the fuzzer's streams to the Go parser and, in
// one Node process for the whole run (jstest/parse-lines.mjs), to
// createParser, whole and byte by byte: all must agree.
func FuzzParserMatchesGo(f *testing.F) {
	nodePath := node(f)
	for _, s := range []string{"data: a\r\n\r\n", "\xEF\xBB\xBFid: 1\x00\ndata:x\r\rretry: 9223372036855\n", "data: \xF0\x9F\x98A\xE0\x80\n\n"} {
		f.Add([]byte(s))
	}
	cmd := exec.Command(nodePath, "jstest/parse-lines.mjs")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		f.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		f.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 64<<20)
	f.Fuzz(func(t *testing.T, in []byte) {
		want, err := goDecode(in)
		if err != nil {
			t.Skip(err) // beyond the Go parser's limits: nothing to compare
		}
		want.InBase64 = nil
		if _, err := io.WriteString(stdin, base64.StdEncoding.EncodeToString(in)+"\n"); err != nil {
			t.Fatal(err)
		}
		// A parser that hangs on the input fails it rather than the run.
		done := make(chan bool, 1)
		go func() { done <- lines.Scan() }()
		select {
		case ok := <-done:
			if !ok {
				t.Fatalf("node ended: %v", lines.Err())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("createParser gave no answer for %q in 10 s", in)
		}
		var got parsed
		if err := json.Unmarshal(lines.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Error != "" {
			t.Fatalf("%q: %s", in, got.Error)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n createParser %+v\n   Go parser %+v", in, got, want)
		}
	})
}
