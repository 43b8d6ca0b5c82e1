// Package netnstest gives a test a peer machine that can vanish: a network
// namespace of its own, joined to the test's by a veth pair, from which the
// test dials; [Peer.Vanish] then drops every packet in and out of it, so
// that it sends no FIN, no RST and no ACK ever again, as a client whose
// machine lost power or whose route went dead. A server's only way to
// notice is its own timeouts, which is what such a test checks.
//
// It runs on Linux as root (a network namespace needs CAP_SYS_ADMIN, the
// veth pair CAP_NET_ADMIN), with ip (Debian package iproute2) and nft
// (nftables). Without them the test is skipped, unless the environment
// variable SSEHUB_NETNS_TESTS is "1", in which case it fails: CI sets it
// so that a missing tool cannot pass as green. Name the tests that use it
// TestVanish...: where CI does not run as root, .ci/run runs those again
// under sudo.
//
// Nothing outlives the test, even one killed before its cleanup: the
// namespace belongs to one locked thread of the test process and ends with
// it, taking its end of the veth pair, and so the whole pair, along.
package netnstest
