package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ssehub/ssehub/mercure"
)

const publishUsage = `usage: sse publish --url URL --topic T [--topic T]... --data D [flags] (--token JWT | --jwt-key KEY)

Publishes one update to a Mercure hub and prints the ID the hub gave it.
URL is the hub's endpoint; a URL without a path gets ` + mercure.Path + `.
With --jwt-key, a token allowed to publish to exactly the given topics is
signed for the request: a Mercure 1.0 access token of issuer --iss for the
hub at URL (its aud is URL's origin and ` + mercure.Path + `, or --aud), or with
--protocol 0 a Mercure 0.x token.

Exit status: 0 when the hub stored the update, 1 when it refused it (the
status and the hub's message go to standard error) or could not be
reached, 2 on bad usage.

flags:
`

// Publish-side limits.
const (
	defaultPublishTimeout = 30 * time.Second
	// publishTokenTTL is the life of a token signed for one request.
	publishTokenTTL = time.Minute
)

type publishConfig struct {
	url     *url.URL
	form    url.Values
	topics  []string
	token   string
	key     string
	timeout time.Duration
	// How a token signed with key is made: the protocol (1 or 0), and for
	// 1.0 the issuer and audience.
	protocol int
	iss, aud string
}

func parsePublishArgs(args []string, e env) (publishConfig, error) {
	var cfg publishConfig
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), publishUsage)
		fs.PrintDefaults()
	}
	var topics listFlag
	var rawURL, data, id, typ string
	var retry int
	var private bool
	fs.StringVar(&rawURL, "url", "", "the hub's `URL` (required)")
	fs.Var(&topics, "topic", "topic `T` of the update; the first is canonical (required, repeatable)")
	fs.StringVar(&data, "data", "", "the update's data (required; may be empty)")
	fs.StringVar(&id, "id", "", "the update's ID (default: the hub assigns one)")
	fs.StringVar(&typ, "type", "", "the SSE event `type` (default: message)")
	fs.IntVar(&retry, "retry", 0, "reconnection time sent to subscribers, in `milliseconds` (0: none)")
	fs.BoolVar(&private, "private", false, "deliver only to subscribers authorized for one of the topics")
	fs.StringVar(&cfg.token, "token", "", "a publisher `JWT`")
	fs.StringVar(&cfg.key, "jwt-key", "", "the hub's HMAC `key`, to sign a token for this request")
	fs.DurationVar(&cfg.timeout, "timeout", defaultPublishTimeout, "bound on the whole request")
	fs.IntVar(&cfg.protocol, "protocol", 1, "Mercure `version` of the token signed with --jwt-key: 1 or 0")
	fs.StringVar(&cfg.iss, "iss", defaultIssuer, "`issuer` of the token signed with --jwt-key (1.0)")
	fs.StringVar(&cfg.aud, "aud", "", "audience of the token signed with --jwt-key, the hub's resource identifier `URL` (1.0; default: URL's origin and "+mercure.Path+")")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q: every value needs its flag", fs.Arg(0))
	case rawURL == "":
		return cfg, errors.New("--url is required")
	case len(topics) == 0:
		return cfg, errors.New("--topic is required")
	case !given["data"]:
		return cfg, errors.New("--data is required (--data '' publishes empty data)")
	case retry < 0:
		return cfg, fmt.Errorf("--retry %d: must not be negative", retry)
	case cfg.token == "" && cfg.key == "":
		return cfg, errors.New("give --token or --jwt-key: publishing needs a token")
	case cfg.token != "" && cfg.key != "":
		return cfg, errors.New("give --token or --jwt-key, not both")
	case cfg.timeout <= 0:
		return cfg, fmt.Errorf("--timeout %v: must be positive", cfg.timeout)
	case cfg.protocol != 0 && cfg.protocol != 1:
		return cfg, fmt.Errorf("--protocol %d: want 1 or 0", cfg.protocol)
	}
	for _, t := range topics {
		if t == "" {
			return cfg, errors.New("--topic: must not be empty")
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return cfg, fmt.Errorf("--url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, fmt.Errorf("--url %q: want an absolute http or https URL", rawURL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = mercure.Path
	}
	cfg.url, cfg.topics = u, topics
	if cfg.aud == "" {
		cfg.aud = mercure.DefaultResourceID(u)
	}
	cfg.form = url.Values{"topic": topics, "data": {data}}
	if id != "" {
		cfg.form.Set("id", id)
	}
	if typ != "" {
		cfg.form.Set("type", typ)
	}
	if retry > 0 {
		cfg.form.Set("retry", strconv.Itoa(retry))
	}
	if private {
		cfg.form.Set("private", "on")
	}
	return cfg, nil
}

// runPublish implements 'sse publish'.
func runPublish(ctx context.Context, args []string, e env) int {
	cfg, err := parsePublishArgs(args, e)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "sse publish: %v\n", err)
		return 2
	}
	token := cfg.token
	if cfg.key != "" {
		if token, err = cfg.sign(time.Now()); err != nil {
			fmt.Fprintf(e.stderr, "sse publish: %v\n", err)
			return 2
		}
	}
	id, err := publish(ctx, cfg, token)
	if err != nil {
		fmt.Fprintf(e.stderr, "sse publish: %v\n", err)
		return 1
	}
	fmt.Fprintln(e.stdout, id)
	return 0
}

// sign signs a token allowed to publish to exactly cfg's topics.
func (cfg publishConfig) sign(now time.Time) (string, error) {
	return mint(cfg.protocol, cfg.key, mercure.AccessToken{
		Issuer: cfg.iss, Audience: []string{cfg.aud}, Publish: mercure.Matchers(cfg.topics, nil),
	}, publishTokenTTL, now)
}

// publish posts the update and returns the ID the hub answered with.
func publish(ctx context.Context, cfg publishConfig, token string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	// A transport of its own leaves no idle connection behind when run is
	// called in-process.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	return mercure.Publish(ctx, &http.Client{Transport: tr}, cfg.url.String(), token, cfg.form)
}
