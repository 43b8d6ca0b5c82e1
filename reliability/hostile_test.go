package reliability

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
)

// The binary's server limits these tests hold it to (cmd/ssehub/run.go).
const (
	binReadHeaderTimeout = 10 * time.Second
	binBodyReadTimeout   = 30 * time.Second
	binMaxHeaderBytes    = 64 << 10
)

// TestHeaderTooLarge sends request headers beyond the binary's
// MaxHeaderBytes: the answer is 431, and the hub goes on serving.
func TestHeaderTooLarge(t *testing.T) {
	t.Parallel()
	h := startHub(t, "--data", t.TempDir(), "--jwt-key", jwtKey, "--anonymous")
	for _, size := range []int{binMaxHeaderBytes + 8<<10, 1 << 20} {
		conn, err := net.Dial("tcp", h.Addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		// The write may fail once the server has answered and closed;
		// the answer is what counts.
		go fmt.Fprintf(conn, "GET /.well-known/mercure?topic=x HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", size))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%d-byte header: %v", size, err)
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("%d-byte header: status %d, want 431", size, resp.StatusCode)
		}
	}
	// A header just under the limit is served.
	r, _ := http.NewRequest("GET", h.url+"/healthz", nil)
	r.Header.Set("X-Big", strings.Repeat("a", binMaxHeaderBytes-1024))
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("header under the limit: %d", resp.StatusCode)
	}
}

// TestSlowloris trickles request headers, a byte pair a second: the hub cuts
// the connection at its ReadHeaderTimeout.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	h := startHub(t, "--data", t.TempDir(), "--jwt-key", jwtKey, "--anonymous")
	const conns = 20
	start := time.Now()
	errs := make(chan error, conns)
	for range conns {
		go func() {
			conn, err := net.Dial("tcp", h.Addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, "GET /.well-known/mercure?topic=x HTTP/1.1\r\nHost: x\r\n"); err != nil {
				errs <- err
				return
			}
			// Keep writing header bytes until the server gives up on us.
			go func() {
				for i := 0; ; i++ {
					time.Sleep(time.Second)
					if _, err := fmt.Fprintf(conn, "X-%d: y\r\n", i); err != nil {
						return
					}
				}
			}()
			conn.SetReadDeadline(time.Now().Add(3 * binReadHeaderTimeout))
			_, err = io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				errs <- fmt.Errorf("connection still open after %v", time.Since(start))
				return
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	d := time.Since(start)
	t.Logf("slowloris: %d connections trickling headers cut after %v (ReadHeaderTimeout %v)", conns, d.Round(time.Millisecond), binReadHeaderTimeout)
	if d < binReadHeaderTimeout-time.Second || d > binReadHeaderTimeout+5*time.Second {
		t.Fatalf("cut after %v, want about %v", d, binReadHeaderTimeout)
	}
	if resp, err := http.Get(h.url + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("hub not serving after the attack: %v", err)
	}
}

// TestTrickledBody sends a publish body a byte a second, forever: the hub
// answers 408 when the body read deadline passes and closes the
// connection; subscribers' streams, which that deadline must not touch,
// outlive it.
func TestTrickledBody(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 30 s body timeout")
	}
	t.Parallel()
	h := startHub(t, "--data", t.TempDir(), "--jwt-key", jwtKey, "--anonymous")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A subscriber open for longer than the body timeout.
	r, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/.well-known/mercure?topic=keep", nil)
	sub, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || sub.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Body.Close()
	events := make(chan sse.Event, 1)
	go func() {
		for ev, err := range sse.Events(sub.Body) {
			if err != nil {
				close(events)
				return
			}
			events <- ev
		}
	}()

	conn, err := net.Dial("tcp", h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\ntopic=keep&data=",
		token(t, []string{"*"}, nil))
	go func() {
		for {
			time.Sleep(time.Second)
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(2 * binBodyReadTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a trickled body after %v: %v", time.Since(start), err)
	}
	b, _ := io.ReadAll(resp.Body)
	d := time.Since(start)
	t.Logf("trickled body: answered %d %q after %v", resp.StatusCode, strings.TrimSpace(string(b)), d.Round(time.Millisecond))
	if resp.StatusCode != http.StatusRequestTimeout || !strings.HasPrefix(string(b), "body:") {
		t.Fatalf("trickled body: %d %q, want 408 naming body", resp.StatusCode, b)
	}
	if d > binBodyReadTimeout+5*time.Second {
		t.Fatalf("answered after %v", d)
	}
	// The subscriber, open all along, still gets updates.
	if _, err := publish(ctx, http.DefaultClient, h.url, token(t, []string{"*"}, nil), url.Values{"topic": {"keep"}, "data": {"still here"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev, ok := <-events:
		if !ok || ev.Data != "still here" {
			t.Fatalf("subscriber after the body timeout: %+v, %v", ev, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber got nothing after the body timeout")
	}
}

// hostileUpdate is one publish of TestHostileContent and what every
// subscriber must parse from it.
type hostileUpdate struct {
	id, typ, data string
	wantData      string
}

// TestHostileContent publishes updates whose data holds every kind of line
// break and control character, to several topics, and checks that every
// subscriber (exact, template, wildcard, and on a topic of line separators)
// parses exactly the published updates: nothing injected, nothing merged.
// Topics, IDs and types may hold no control character (see hub.ValidateID
// and hub.CheckText; Mercure 1.0, "Publication"), nor data invalid UTF-8:
// those publishes are refused, naming the field.
func TestHostileContent(t *testing.T) {
	t.Parallel()
	h := startHub(t, "--data", t.TempDir(), "--jwt-key", jwtKey, "--anonymous")
	const base = "https://example.com/h/"
	evilTopic := "https://example.com/evil\u2028data: injected\u2029"
	controlTopic := "https://example.com/evil\r\ndata: injected\r\n\r\nid: x\x00"
	updates := []hostileUpdate{
		{id: "lf", data: "a\nb", wantData: "a\nb"},
		{id: "cr", data: "a\rb", wantData: "a\nb"},
		{id: "crlf", data: "a\r\nb", wantData: "a\nb"},
		{id: "lf-cr", data: "a\n\rb", wantData: "a\n\nb"},
		{id: "blank lines", data: "a\n\n\nb", wantData: "a\n\n\nb"},
		{id: "lone CR at end", data: "abc\r", wantData: "abc\n"},
		{id: "LF at end", data: "abc\n", wantData: "abc\n"},
		{id: "CRLF at end", data: "abc\r\n", wantData: "abc\n"},
		{id: "only CR", data: "\r", wantData: "\n"},
		{id: "NUL", data: "a\x00b\x00", wantData: "a\x00b\x00"},
		{id: "U+2028 U+2029 U+0085", data: "a\u2028b\u2029c\u0085d", wantData: "a\u2028b\u2029c\u0085d"},
		{id: "field lookalikes", data: "x\ndata: y\nid: z\nevent: e\nretry: 1\n\n: c\r\nid", wantData: "x\ndata: y\nid: z\nevent: e\nretry: 1\n\n: c\nid"},
		{id: "empty", data: "", wantData: ""},
		{id: "U+2028\u2028 in id and type", typ: "type\u2028", data: "line separator in type", wantData: "line separator in type"},
		{id: "leading space in type", typ: " spaced", data: " leading space in data", wantData: " leading space in data"},
		{id: "BOM", data: "\uFEFFbom", wantData: "\uFEFFbom"},
	}
	selectors := map[string]string{
		"exact":    base + "0",
		"template": base + "{n}",
		"wildcard": "*",
		"evil":     evilTopic,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streams := map[string]<-chan sse.Event{}
	for name, sel := range selectors {
		r, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/.well-known/mercure?topic="+url.QueryEscape(sel), nil)
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("subscribe %s: %v %v", name, err, resp)
		}
		defer resp.Body.Close()
		ch := make(chan sse.Event, len(updates)+1)
		go func() {
			defer close(ch)
			for ev, err := range sse.Events(resp.Body) {
				if err != nil {
					return
				}
				ch <- ev
			}
		}()
		streams[name] = ch
	}
	tok := token(t, []string{"*"}, nil)
	for i, u := range updates {
		form := url.Values{"topic": {base + "0", base + fmt.Sprint(i+1), evilTopic}, "id": {u.id}, "data": {u.data}}
		if u.typ != "" {
			form.Set("type", u.typ)
		}
		if _, err := publish(ctx, http.DefaultClient, h.url, tok, form); err != nil {
			t.Fatalf("publish %q: %v", u.id, err)
		}
	}
	// IDs and types that would break the framing are refused, naming the
	// field, and never reach a stream; so are IDs a subscriber could not
	// send back as a Last-Event-ID header (issue 19, item 3): control
	// characters, spaces at the ends, over-long.
	for _, bad := range []url.Values{
		{"id": {"a\nb"}}, {"id": {"a\rb"}}, {"id": {"a\x00"}}, {"type": {"t\n"}}, {"type": {"t\rdata: x"}},
		{"id": {"id\twith\x01controls"}}, {"id": {"esc\x1b"}}, {"id": {"del\x7f"}}, {"id": {"  leading spaces"}},
		{"id": {strings.Repeat("x", 1025)}},
		{"type": {"type\x00\t\x1b"}}, {"topic": {controlTopic}}, {"topic": {"*"}}, {"data": {"a\xffb"}},
	} {
		field := "id"
		for _, f := range []string{"type", "topic", "data"} {
			if bad.Has(f) {
				field = f
			}
		}
		if !bad.Has("topic") {
			bad.Set("topic", base+"0")
		}
		if !bad.Has("data") {
			bad.Set("data", "must not arrive")
		}
		_, err := publish(ctx, http.DefaultClient, h.url, tok, bad)
		if re, ok := errors.AsType[*mercure.RefusedError](err); !ok || re.StatusCode != http.StatusBadRequest || !strings.HasPrefix(re.Reason, field+":") {
			t.Errorf("publish %.80q: %v, want 400 naming %s", bad, err, field)
		}
	}
	if _, err := publish(ctx, http.DefaultClient, h.url, tok, url.Values{"topic": {base + "0", evilTopic}, "id": {"end"}, "data": {"end"}}); err != nil {
		t.Fatal(err)
	}
	for name, ch := range streams {
		var got []hostileUpdate
		for ev := range ch {
			if ev.ID == "end" {
				break
			}
			typ := ev.Type
			if typ == "message" {
				typ = ""
			}
			got = append(got, hostileUpdate{id: ev.ID, typ: typ, data: ev.Data, wantData: ev.Data})
		}
		want := make([]hostileUpdate, len(updates))
		for i, u := range updates {
			want[i] = hostileUpdate{id: u.id, typ: u.typ, data: u.wantData, wantData: u.wantData}
		}
		if !slices.Equal(got, want) {
			for i := range max(len(got), len(want)) {
				var g, w hostileUpdate
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				if g != w {
					t.Errorf("%s subscriber, event %d: got %+q, want %+q", name, i, g, w)
				}
			}
		}
	}
}
