package knock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"time"

	"github.com/portkit/ports"
)

// ErrNotImplemented is returned for what this system cannot do: TCP
// knocks outside Unix, sniffing outside Linux. It wraps
// errors.ErrUnsupported.
var ErrNotImplemented = fmt.Errorf("knock: not implemented on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// SendConfig configures Send. A nil *SendConfig means the zero value.
type SendConfig struct {
	// Delay is the pause between knocks (knock's -d); 0 means none.
	Delay time.Duration

	// Network restricts the address family when host is a name: "ip4" or
	// "ip6"; "" or "ip" means either (the first address found).
	Network string

	// Resolver looks names up; nil means net.DefaultResolver.
	Resolver *net.Resolver

	// OnKnock, if not nil, is called before each knock (for -v).
	OnKnock func(k Knock, to netip.AddrPort)

	// Connect makes each TCP knock a complete connection (handshake, then
	// close) instead of a lone SYN, for servers that see knocks through
	// ordinary sockets, such as Gate. A refused connection still counts as
	// sent; one that gets no answer within ConnectTimeout is an error.
	Connect bool

	// ConnectTimeout bounds a Connect knock; 0 means 3 seconds.
	ConnectTimeout time.Duration
}

// Send knocks on host's ports in order, as knockd's knock client does.
// host is an IP address literal or a name. It stops at the first error,
// and honours ctx between knocks.
func Send(ctx context.Context, host string, seq Sequence, cfg *SendConfig) error {
	if cfg == nil {
		cfg = &SendConfig{}
	}
	addr, err := Resolve(ctx, host, cfg.Network, cfg.Resolver)
	if err != nil {
		return err
	}
	for i, k := range seq {
		if i > 0 && cfg.Delay > 0 {
			t := time.NewTimer(cfg.Delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		to := netip.AddrPortFrom(addr, uint16(k.Port))
		if cfg.OnKnock != nil {
			cfg.OnKnock(k, to)
		}
		if cfg.Connect && k.Proto == ports.ProtoTCP {
			if err := connectKnock(ctx, to, cfg.ConnectTimeout); err != nil {
				return err
			}
			continue
		}
		if err := KnockOnce(k.Proto, to); err != nil {
			return err
		}
	}
	return nil
}

// Resolve returns host's address: host itself if it is a literal, else
// the first address of the family network ("ip", "ip4", "ip6") that r
// (nil: net.DefaultResolver) finds.
func Resolve(ctx context.Context, host, network string, r *net.Resolver) (netip.Addr, error) {
	switch network {
	case "":
		network = "ip"
	case "ip", "ip4", "ip6":
	default:
		return netip.Addr{}, fmt.Errorf("knock: network %q is not ip, ip4 or ip6", network)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if (network == "ip4" && !a.Is4()) || (network == "ip6" && !a.Is6()) {
			return netip.Addr{}, fmt.Errorf("knock: %s is not an %s address", host, map[string]string{"ip4": "IPv4", "ip6": "IPv6"}[network])
		}
		return a, nil
	}
	// "300.1.1.1" is a mistake, not a name: never ask DNS about it.
	if _, err := ports.ParseHost(host); err != nil {
		return netip.Addr{}, fmt.Errorf("knock: %w", err)
	}
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, network, host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("knock: resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("knock: resolve %s: no %s address", host, network)
	}
	return addrs[0].Unmap(), nil
}

// KnockOnce sends one knock to the address: for TCP a non-blocking
// connect closed at once (one SYN), for UDP a datagram of one zero byte.
func KnockOnce(proto ports.Proto, to netip.AddrPort) error {
	switch proto {
	case ports.ProtoTCP:
		if err := tcpKnock(to); err != nil {
			return &net.OpError{Op: "knock", Net: "tcp", Addr: net.TCPAddrFromAddrPort(to), Err: err}
		}
		return nil
	case ports.ProtoUDP:
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
		if err != nil {
			return err
		}
		_, err = c.Write([]byte{0})
		if cerr := c.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return fmt.Errorf("knock: protocol %s cannot knock", proto)
}

func connectKnock(ctx context.Context, to netip.AddrPort, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", to.String())
	if err != nil {
		// Refused: nothing listens, but the knock was seen by a sniffer.
		// Reset: a gate accepted and reset it at once, maybe before the
		// handshake was reported here.
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
			return nil
		}
		return err
	}
	return c.Close()
}
