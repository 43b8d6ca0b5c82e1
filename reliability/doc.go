// Package reliability holds the tests that build the real ssehub binary and
// try to break it: SIGKILL under load with the bolt and the Redis history,
// connection storms, slow consumers, oversized and trickled requests, and
// hostile update content. It has no API; its tests are the point, and
// RELIABILITY.md at the repository root records what they measured.
//
// go test ./reliability runs the bounded suite (about a minute). The longer
// soaks run with SSEHUB_SOAK=1:
//
//	SSEHUB_SOAK=1 go test -run Soak -v -timeout 20m ./reliability
package reliability
