package mercure

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testHMACKey signs the HS256 tokens of the tests and of the fuzz seeds.
var testHMACKey = []byte("!ChangeThisMercureHubJWTSecretKey!")

// keyPair is one configured algorithm: the key tokens are signed with and
// the key the handler is configured with.
type keyPair struct {
	alg    string
	sign   any    // what jwt signs with
	verify []byte // what Options takes
}

func hmacPair() keyPair { return keyPair{alg: "HS256", sign: testHMACKey, verify: testHMACKey} }

func rsaPair(t testing.TB) keyPair {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{alg: "RS256", sign: k, verify: pemPublic(t, &k.PublicKey)}
}

func ecPair(t testing.TB, curve elliptic.Curve, alg string) keyPair {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{alg: alg, sign: k, verify: pemPublic(t, &k.PublicKey)}
}

func edPair(t testing.TB) keyPair {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{alg: "EdDSA", sign: priv, verify: pemPublic(t, pub)}
}

func pemPublic(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// mint signs a token carrying the given Mercure claims (nil: none) and any
// extra registered claims.
func (p keyPair) mint(t testing.TB, mercure map[string]any, extra jwt.MapClaims) string {
	t.Helper()
	claims := jwt.MapClaims{}
	if mercure != nil {
		claims["mercure"] = mercure
	}
	for k, v := range extra {
		claims[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.GetSigningMethod(p.alg), claims).SignedString(p.sign)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pubClaims(selectors ...string) map[string]any {
	return map[string]any{"publish": selectors}
}

func subClaims(selectors ...string) map[string]any {
	return map[string]any{"subscribe": selectors}
}

// noneToken is an unsigned token with alg "none" granting everything.
func noneToken(t testing.TB) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"mercure": map[string]any{"publish": []string{"*"}, "subscribe": []string{"*"}},
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func expired() jwt.MapClaims { return jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()} }
func notYet() jwt.MapClaims  { return jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()} }
