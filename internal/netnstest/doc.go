// Package netnstest gives a test a peer machine that can vanish: a network
// namespace of its own, joined to the test's by a veth pair, from which the
// test dials; [Peer.Vanish] then drops every packet in and out of it, so
// that it sends no FIN, no RST and no ACK ever again, as a client whose
// machine lost power or whose route went dead. A server's only way to
// notice is its own timeouts, which is what such a test checks.
//
// It runs on Linux as root (a network namespace needs CAP_SYS_ADMIN, the
// veth pair CAP_NET_ADMIN), with ip (Debian package iproute2) and nft
// (nftables), and only when the environment variable SSEHUB_NETNS_TESTS is
// "1": otherwise the test is skipped, and with it a missing privilege or
// tool is a failure, so that CI cannot pass one as green.
//
// It is opt-in because the veth pair adds a link and an address to the
// test's namespace, which is the machine's, and Chromium takes that for a
// network change: it drops every connection it has
// (net::ERR_NETWORK_CHANGED), so a browser test's fetch in flight fails
// with "Failed to fetch". Name the tests that use it TestVanish... (Start
// fails any other): .ci/run runs those in a step of their own, after
// go test -race ./..., never beside the browser tests
// (internal/browsertest).
//
// Nothing outlives the test, even one killed before its cleanup: the
// namespace belongs to one locked thread of the test process and ends with
// it, taking its end of the veth pair, and so the whole pair, along.
package netnstest
