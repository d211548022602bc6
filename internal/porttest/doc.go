// Package porttest provides hosts for tests that need a real network:
// listeners on loopback, which need no privileges, and [Pair], two Linux
// network namespaces joined by a veth pair, optionally with random
// packet loss.
//
// It also holds the scaffolding several packages' tests share, so that
// each need not write its own: [ServeTCP] and [Serve] (an accept loop),
// [ServeProxy] with [PipeDialer] and [PipeHandshake] (the proxy tests of
// socks and httpproxy), [Relay], [Trickle] (a slowloris client), [Curl],
// [Go] (a Run method until the test ends), [Clock], [WaitFor],
// [LogBuffer], [FreePorts], [LookTool], [Exists] and [Host.Start] (a
// daemon under test inside a namespace).
//
// # Safety
//
// Test traffic goes only to loopback or to the addresses of a Pair. A
// Pair's namespaces are connected to nothing but each other: the veth
// pair has no end in the host's namespace, and [NewPair] checks that
// neither namespace has a default route, so a packet addressed anywhere
// else fails locally with "network is unreachable". Nothing a test sends
// leaves the machine. Tests must keep to that rule: never dial, send to or
// scan an address that is not loopback or one of a Pair's own addresses.
//
// A Pair uses a random /30 of 198.18.0.0/15, the RFC 2544 benchmarking
// range, and a random /64 of the unique local range fd00::/8 (RFC 4193),
// so that even addresses that escaped would not belong to anyone.
//
// # Privileges
//
// [NewPair] needs root or CAP_SYS_ADMIN, and the ip command from iproute2;
// packet loss also needs nft, from the Debian package nftables. Without
// them it skips the test, saying what is missing. Name such tests
// TestIntegration*.
//
// Only tests may import this package.
package porttest
