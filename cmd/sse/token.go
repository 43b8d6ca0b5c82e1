package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
)

const tokenUsage = `usage: sse token --jwt-key KEY --aud URL [--iss ISS] [--publish M]... [--publish-urlpattern P]...
                 [--subscribe M]... [--subscribe-urlpattern P]... [--payload JSON] [--ttl D]
       sse token --protocol 0 --jwt-key KEY [--publish SELECTOR]... [--subscribe SELECTOR]... [--ttl D]

Prints a token signed with KEY (HS256). By default a Mercure 1.0 access
token (RFC 9068, typ at+jwt): issued by ISS, for the hub whose resource
identifier is URL (its aud, such as https://example.com/.well-known/mercure),
granting publish and subscribe on the topics the exact matchers M and the
URL patterns P select (* selects every topic). With --protocol 0, a Mercure
0.x token: the mercure claim, whose selectors are topics, URI templates or *.

Exit status: 0 on success, 2 on bad usage.

flags:
`

// defaultIssuer is the issuer ssehub trusts for the key it generates, and
// the one 'sse token' names by default.
const defaultIssuer = "ssehub"

// defaultTokenTTL is how long a token from 'sse token' lasts by default.
const defaultTokenTTL = time.Hour

// mint signs a token with key: the access token at, or for protocol 0 a
// Mercure 0.x token whose mercure claim lists the texts of at's matchers
// as selectors, with at's subject. A 0.x token with a ttl of 0 never
// expires.
func mint(protocol int, key string, at mercure.AccessToken, ttl time.Duration, now time.Time) (string, error) {
	switch {
	case key == "":
		return "", errors.New("--jwt-key: must not be empty")
	case protocol != 0:
		return mercure.NewAccessToken([]byte(key), at, now, ttl)
	}
	texts := func(ms []hub.Selector) (out []string) {
		for _, m := range ms {
			out = append(out, m.Text)
		}
		return out
	}
	return mercure.NewToken([]byte(key), mercure.Claims{Publish: texts(at.Publish), Subscribe: texts(at.Subscribe)}, at.Subject, now, ttl)
}

// runToken implements 'sse token'.
func runToken(args []string, e env) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), tokenUsage)
		fs.PrintDefaults()
	}
	var publish, subscribe, publishP, subscribeP listFlag
	key := fs.String("jwt-key", "", "the hub's HMAC `key` (required)")
	protocol := fs.Int("protocol", 1, "Mercure `version` of the token: 1 (an access token) or 0 (the mercure claim)")
	fs.Var(&publish, "publish", "`topic` (exact; a selector for --protocol 0) the token may publish to (repeatable)")
	fs.Var(&subscribe, "subscribe", "`topic` (exact; a selector for --protocol 0) whose private updates the token may receive (repeatable)")
	fs.Var(&publishP, "publish-urlpattern", "URL `pattern` of topics the token may publish to (repeatable; 1.0)")
	fs.Var(&subscribeP, "subscribe-urlpattern", "URL `pattern` of topics whose private updates the token may receive (repeatable; 1.0)")
	iss := fs.String("iss", defaultIssuer, "the token's `issuer`, one the hub trusts with the key (its --jwt-issuer) (1.0)")
	var aud listFlag
	fs.Var(&aud, "aud", "the hub's resource identifier, a `URL` like https://example.com/.well-known/mercure (required for 1.0, repeatable)")
	payload := fs.String("payload", "", "`JSON` object attached to the subscribe grant, shown by the subscriptions API (1.0)")
	subject := fs.String("subject", "", "the token's sub claim")
	ttl := fs.Duration("ttl", defaultTokenTTL, "how long the token is valid (0: no expiry, --protocol 0 only)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case *key == "":
		err = errors.New("--jwt-key is required")
	case *protocol != 0 && *protocol != 1:
		err = fmt.Errorf("--protocol %d: want 1 or 0", *protocol)
	case *ttl < 0:
		err = fmt.Errorf("--ttl %v: must not be negative", *ttl)
	case len(publish)+len(subscribe)+len(publishP)+len(subscribeP) == 0:
		err = errors.New("give at least one --publish or --subscribe matcher: a token without either grants nothing")
	case *protocol == 0 && len(publishP)+len(subscribeP)+len(aud) > 0 || *protocol == 0 && *payload != "":
		err = errors.New("--publish-urlpattern, --subscribe-urlpattern, --aud and --payload make Mercure 1.0 tokens, not --protocol 0 ones")
	case *protocol == 1 && len(aud) == 0:
		err = errors.New("--aud is required: the hub's resource identifier, like https://example.com/.well-known/mercure (ssehub's --resource-identifier, or its URL)")
	case *protocol == 1 && *ttl == 0:
		err = errors.New("--ttl 0: a Mercure 1.0 access token must expire")
	case *payload != "" && !json.Valid([]byte(*payload)):
		err = errors.New("--payload: not JSON")
	}
	if err == nil {
		for _, s := range slices.Concat(publish, subscribe, publishP, subscribeP) {
			if s == "" {
				err = errors.New("--publish, --subscribe: a matcher must not be empty")
			}
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "sse token: %v\n", err)
		return 2
	}
	at := mercure.AccessToken{Issuer: *iss, Audience: aud, Subject: *subject,
		Publish: mercure.Matchers(publish, publishP), Subscribe: mercure.Matchers(subscribe, subscribeP)}
	if *payload != "" {
		at.Payload = json.RawMessage(*payload)
	}
	tok, err := mint(*protocol, *key, at, *ttl, time.Now())
	if err != nil {
		fmt.Fprintf(e.stderr, "sse token: %v\n", err)
		return 2
	}
	fmt.Fprintln(e.stdout, tok)
	return 0
}
