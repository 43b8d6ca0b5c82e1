package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/ssehub/ssehub/internal/demo"
	"github.com/ssehub/ssehub/mercure"
)

// announce tells the developer how to use the hub. On the development
// defaults that includes a publish command with a ready token, both in the
// log and on stderr, where it is easy to copy.
func announce(w io.Writer, log *slog.Logger, cfg Config, base string, k keys) {
	subscribe := base + mercure.Path + "?match=" + url.QueryEscape(demo.Topic)
	// The audience of the printed tokens: what the hub derives from a
	// request to base, unless it is pinned.
	res := cfg.ResourceIdentifier
	if res == "" {
		res = base + mercure.Path
	}
	issuers := cfg.issuers(k)
	switch {
	case cfg.DevDefaults() && len(issuers) > 0:
		// A Mercure 1.0 access token: the dialect new clients speak.
		tok, err := mintAccessToken(k.pub, issuers[0], res, []string{"*"}, nil, printedTokenTTL, time.Now())
		if err != nil {
			log.Error("minting the development token", "err", err)
			return
		}
		publish := fmt.Sprintf("curl -d topic=%s -d data=hello -H 'Authorization: Bearer %s' %s",
			demo.Topic, tok, base+mercure.Path)
		log.Info("development defaults: anyone on this machine may subscribe; publish with the printed command",
			"publish", publish, "subscribe", subscribe, "page", base+"/", "key_file", k.generated.Path)
		fmt.Fprintf(w, `
ssehub is ready (development defaults)
  demo page:  %s/
  dashboard:  %s/dashboard
  subscribe:  curl -N '%s'
  publish:    %s
  (a Mercure 1.0 access token of issuer %q for %s, valid for %v,
   that may publish to any topic; the key is in %s; Mercure 0.x tokens
   and topic= subscriptions work too)

`, base, base, subscribe, publish, issuers[0], res, printedTokenTTL, k.generated.Path)
	case k.generated != nil:
		log.Info("publishers need a token signed with the generated key",
			"key_file", k.generated.Path,
			"mint", fmt.Sprintf(`sse token --jwt-key "$(cat %s)" --iss %s --aud %s --publish '*'`, k.generated.Path, defaultIssuer, res))
	case len(issuers) == 0 && len(cfg.Issuers) == 0:
		// A configured key has no default issuer (see Config.issuers), so
		// every Mercure 1.0 access token would be refused as from an
		// untrusted issuer: say so once, at start, rather than in each 401.
		log.Warn("no trusted issuer: Mercure 1.0 access tokens are refused, only 0.x tokens are accepted; "+
			"name the issuer of the tokens signed with the configured key with --jwt-issuer (sse token --iss), or use --issuer",
			"example", "--jwt-issuer "+defaultIssuer)
	}
}
