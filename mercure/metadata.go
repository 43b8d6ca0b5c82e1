package mercure

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/ssehub/ssehub/hub"
)

// MetadataPathPrefix is what RFC 9728 puts before a protected resource's
// path to find its metadata.
const MetadataPathPrefix = "/.well-known/oauth-protected-resource"

// MetadataPath is where the hub serves its OAuth 2.0 protected resource
// metadata (RFC 9728; Mercure 1.0, "Protected Resource Metadata").
const MetadataPath = MetadataPathPrefix + Path

// resourceMetadata is the RFC 9728 document, with the members Mercure 1.0
// lists.
type resourceMetadata struct {
	Resource                           string   `json:"resource"`
	BearerMethodsSupported             []string `json:"bearer_methods_supported"`
	AuthorizationDetailsTypesSupported []string `json:"authorization_details_types_supported"`
	MercureCookie                      string   `json:"mercure_cookie,omitempty"`
	MercureSubscriptions               bool     `json:"mercure_subscriptions,omitempty"`
}

// metadata answers GET and HEAD on MetadataPath.
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	body, err := json.Marshal(resourceMetadata{
		Resource:                           h.resourceID(r),
		BearerMethodsSupported:             []string{"header"},
		AuthorizationDetailsTypesSupported: []string{AuthorizationDetailType},
		MercureCookie:                      h.accessCookie,
		MercureSubscriptions:               h.subsEnabled,
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	// Public and the same for every origin: any page may read it.
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Cache-Control", "max-age=3600")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// checkReserved refuses an update with a topic in the hub's reserved
// namespace, the hub's path and below, where the hub publishes its own
// updates such as subscription events (Mercure 1.0, "Publication"). The
// topic is resolved against the hub's URL, its dot segments removed and its
// unreserved percent-encoded octets decoded first, whatever its scheme and
// host, so that no spelling of the path gets through. Both dialects obey
// it: a 0.x publisher must not forge subscription events either.
func (h *Handler) checkReserved(r *http.Request, u *hub.Update) error {
	base, err := url.Parse(h.resourceID(r))
	if err != nil {
		return nil
	}
	for _, t := range u.Topics {
		if reservedTopic(base, t) {
			return badField("topic", "%q is in the hub's reserved namespace %s/", truncate(t, 128), Path)
		}
	}
	return nil
}

// reservedTopic reports whether topic, resolved against base, names Path
// or a path below it.
func reservedTopic(base *url.URL, topic string) bool {
	ref, err := url.Parse(strings.ReplaceAll(topic, `\`, "/"))
	if err != nil {
		// Not a URL reference: it cannot name a hub path.
		return false
	}
	p := base.ResolveReference(ref)
	raw := p.EscapedPath()
	dec := decodeUnreserved(raw)
	// Dot segments again, now that %2E has become ".".
	clean := path.Clean("/" + dec)
	if strings.HasSuffix(dec, "/") && clean != "/" {
		clean += "/"
	}
	return clean == Path || strings.HasPrefix(clean, Path+"/")
}

// decodeUnreserved decodes the percent-encoded octets of s that are
// unreserved characters (RFC 3986 section 2.3), leaving the others.
func decodeUnreserved(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if c, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil && isUnreserved(byte(c)) {
				b.WriteByte(byte(c))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
