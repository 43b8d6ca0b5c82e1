package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// errPublishStatus wraps a publish answer other than 200.
var errPublishStatus = errors.New("publish: unexpected status")

// publisher posts updates in the Mercure form encoding.
type publisher struct {
	client *http.Client
	url    string
	token  string
	topics []string // topic i's name

	hist   histogram       // publish round trips
	ok     []atomic.Uint64 // successful publishes per topic
	failed atomic.Uint64
	errMu  sync.Mutex
	err    error // the first failure
}

func newPublisher(target string, token string, topics []string, conns int, tlsConf *tls.Config) *publisher {
	tr := &http.Transport{
		Proxy:               nil, // the loopback check covers the target, never a proxy
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false, // HTTP/1.1, over TLS too: conns connections
		TLSClientConfig:     tlsConf,
	}
	return &publisher{
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		url:    target,
		token:  token,
		topics: topics,
		ok:     make([]atomic.Uint64, len(topics)),
	}
}

// job is one update to publish: seq is its number on its topic.
type job struct {
	topic int
	seq   uint64
}

// publish posts one update whose data is "SEQ UNIXNANOS", the time taken
// just before sending.
func (p *publisher) publish(ctx context.Context, j job) error {
	now := time.Now()
	data := strconv.FormatUint(j.seq, 10) + " " + strconv.FormatInt(now.UnixNano(), 10)
	body := "topic=" + url.QueryEscape(p.topics[j.topic]) + "&data=" + url.QueryEscape(data)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return err // the run is over, not the server's failure
		}
		return p.fail(err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return p.fail(fmt.Errorf("%w %s: %s", errPublishStatus, resp.Status, strings.TrimSpace(string(msg))))
	}
	p.hist.record(uint64(time.Since(now)))
	p.ok[j.topic].Add(1)
	return nil
}

func (p *publisher) fail(err error) error {
	p.failed.Add(1)
	p.errMu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.errMu.Unlock()
	return err
}

// total returns the number of successful publishes.
func (p *publisher) total() uint64 {
	var n uint64
	for i := range p.ok {
		n += p.ok[i].Load()
	}
	return n
}

// run publishes up to events updates (0: no limit) until stop ends, at rate
// updates per second (0: as fast as workers publishers go), each to the
// topic pick returns. Sequence numbers count per topic from 1; with one
// worker they are published in order. Requests under way when stop ends
// finish within ctx.
func (p *publisher) run(ctx, stop context.Context, events int, rate float64, workers int, pick func() int) {
	jobs := make(chan job, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				p.publish(ctx, j)
			}
		})
	}
	next := make([]uint64, len(p.topics))
	start := time.Now()
	var timer *time.Timer
loop:
	for i := 0; events == 0 || i < events; i++ {
		if rate > 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				select {
				case <-timer.C:
				case <-stop.Done():
					break loop
				}
			}
		}
		t := pick()
		next[t]++
		select {
		case jobs <- job{topic: t, seq: next[t]}:
		case <-stop.Done():
			break loop
		}
	}
	close(jobs)
	wg.Wait()
}
