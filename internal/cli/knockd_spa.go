package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/portkit/ports/knock/nftset"
	"github.com/portkit/ports/knock/spa"
)

// spaServerOpts are the knockd --spa options beyond the first ones.
type spaServerOpts struct {
	port uint16           // --spa-port
	icmp bool             // --icmp
	tcp  []netip.AddrPort // --tcp-listen
	nat  *nftset.NATMap   // --nat-map

	noLocalNAT bool // --no-local-nat
}

// parseTCPListen parses --tcp-listen: fwknop's -P tcp and -P http
// transports (fwknopd's ENABLE_TCP_SERVER, ENABLE_SPA_OVER_HTTP).
func parseTCPListen(list []string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, l := range list {
		ap, err := netip.ParseAddrPort(l)
		if err != nil {
			return nil, usagef("--tcp-listen %q is not ADDR:PORT", l)
		}
		out = append(out, ap)
	}
	return out, nil
}

// startSPATCP serves SPA over TCP and HTTP on addrs (none: nothing) in
// the background; wait ends it and returns its first error, nil when ctx
// ended it. The sockets are opened before it returns (on the calling
// thread: in its network namespace), and an error opening one is
// returned at once.
func startSPATCP(ctx context.Context, srv *spa.Server, log *slog.Logger, addrs []netip.AddrPort) (wait func() error, err error) {
	var lc net.ListenConfig
	var lns []net.Listener
	for _, a := range addrs {
		network := "tcp4"
		if a.Addr().Is6() {
			network = "tcp6"
		}
		ln, err := lc.Listen(ctx, network, a.String())
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
		log.Info(fmt.Sprintf("receiving SPA packets on tcp %s (fwknop -P tcp, -P http)", a))
	}
	ctx, cancel := context.WithCancel(ctx)
	errs := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errs <- srv.ServeTCP(ctx, ln) }()
	}
	return func() error {
		cancel()
		var first error
		for range lns {
			if err := <-errs; err != nil && !errors.Is(err, context.Canceled) && first == nil {
				first = err
			}
		}
		return first
	}, nil
}
