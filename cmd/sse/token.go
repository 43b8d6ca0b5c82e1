package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"time"

	"github.com/ssehub/ssehub/mercure"
)

const tokenUsage = `usage: sse token --jwt-key KEY [--publish SELECTOR]... [--subscribe SELECTOR]... [--ttl D]

Prints a JWT signed with KEY (HS256) carrying the mercure claim that hubs
check: the topic selectors it may publish to, and those whose private
updates it may receive. A selector is a topic, a URI template or *.

Exit status: 0 on success, 2 on bad usage.

flags:
`

// defaultTokenTTL is how long a token from 'sse token' lasts by default.
const defaultTokenTTL = time.Hour

// signToken returns an HS256 token signed with key. A ttl of 0 gives a
// token that never expires.
func signToken(key []byte, publish, subscribe []string, subject string, ttl time.Duration, now time.Time) (string, error) {
	if len(key) == 0 {
		return "", errors.New("--jwt-key: must not be empty")
	}
	return mercure.NewToken(key, mercure.Claims{Publish: publish, Subscribe: subscribe}, subject, now, ttl)
}

// runToken implements 'sse token'.
func runToken(args []string, e env) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), tokenUsage)
		fs.PrintDefaults()
	}
	var publish, subscribe listFlag
	key := fs.String("jwt-key", "", "the hub's HMAC `key` (required)")
	fs.Var(&publish, "publish", "topic `selector` the token may publish to (repeatable)")
	fs.Var(&subscribe, "subscribe", "topic `selector` whose private updates the token may receive (repeatable)")
	subject := fs.String("subject", "", "the token's sub claim, shown by the subscriptions API")
	ttl := fs.Duration("ttl", defaultTokenTTL, "how long the token is valid (0: no expiry)")
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
	case *ttl < 0:
		err = fmt.Errorf("--ttl %v: must not be negative", *ttl)
	case len(publish) == 0 && len(subscribe) == 0:
		err = errors.New("give at least one --publish or --subscribe selector: a token without either grants nothing")
	}
	if err == nil {
		for _, s := range slices.Concat(publish, subscribe) {
			if s == "" {
				err = errors.New("--publish, --subscribe: a selector must not be empty")
			}
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "sse token: %v\n", err)
		return 2
	}
	tok, err := signToken([]byte(*key), publish, subscribe, *subject, *ttl, time.Now())
	if err != nil {
		fmt.Fprintf(e.stderr, "sse token: %v\n", err)
		return 2
	}
	fmt.Fprintln(e.stdout, tok)
	return 0
}
