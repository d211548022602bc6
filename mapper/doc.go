// Package mapper is the data plane of `ports map`, `ports proxy` and
// `ports serve`: TCP and UDP port mappings and HTTP/SOCKS proxies, each
// a [Rule], run together by a [Server] that can swap its rule set while
// running ([Server.Apply]).
//
// TCP bytes move between the bare *net.TCPConn values ([Relay]), so on
// Linux the kernel's splice(2) carries them without a copy through user
// space; metering, idle and FIN timeouts happen between chunks of at
// most 1 MiB, never by wrapping a connection. Half-closes are passed on
// with CloseWrite.
//
// A TCP mapping spreads its clients over its destinations by a
// [Balance] (weights and per-destination caps in [Dest]), takes out
// the ones its health [Check] (or failed dials) finds down, as
// haproxy's check inter/rise/fall does, and may route one port by the
// TLS server name or HTTP Host its clients ask for ([Route]). TLS is
// terminated (TLSCert) or originated (ToTLS) with crypto/tls; those
// connections are relayed through user space.
//
// Safety is closed by default: a rule listening on anything but
// loopback needs a source allow-list (or, for proxies, users), or it
// does not start ([OpenRelayError]); proxies reach only global unicast
// destinations unless allowed (acl.Policy, checked on the IP actually
// dialled); every handshake phase has a deadline; connections are capped
// per rule and per source; the accept loop backs off on EMFILE.
//
// The relay and rule engine are this product's core, so they are written
// here rather than taken from a library; the protocol parsers live in
// acl, socks, httpproxy and proxyproto. Metrics are an [Observer] hook;
// the Prometheus implementation lives in mapper/metrics.
package mapper
