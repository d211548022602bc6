package hostports

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"

	"github.com/portkit/ports"
)

// FreeConfig says which ports [Free] tries. The zero FreeConfig tries TCP
// ports 1024-65535 outside the ephemeral range, on the wildcard address.
type FreeConfig struct {
	// Range is the ports to try; port 0 is never tried. The zero Range
	// means 1024-65535 less the ephemeral range of [EphemeralRange], so
	// that a port found stays clear of the local ports of outgoing
	// connections; if the ephemeral range cannot be read, the RFC 6335
	// dynamic range 49152-65535 is left out instead. A Range given here
	// is tried whole, ephemeral or not.
	Range ports.Range

	// Proto is the protocols a port must bind on, each of ports.ProtoTCP
	// and ports.ProtoUDP; with both, a port is free only if it binds on
	// both. Empty means TCP only. Other protocols are an error that wraps
	// [errors.ErrUnsupported].
	Proto []ports.Proto

	// Addr is the local address to bind. The zero Addr means the
	// wildcard: dual-stack "::" where the host supports it, which
	// conflicts with users of both IPv4 and IPv6 addresses, else
	// 0.0.0.0. An unspecified Addr (0.0.0.0 or ::) binds that address.
	Addr netip.Addr

	// Rand, if not nil, draws the keys of the visiting order, so that a
	// seeded generator gives a repeatable order. A *rand.Rand is not safe
	// for concurrent use: do not share one between concurrent calls.
	// Nil means the top-level functions of math/rand/v2, randomly seeded.
	Rand *rand.Rand
}

// Free yields the ports of cfg that bind right now: for each candidate it
// binds the port on every protocol of cfg, as a server would with
// [net.ListenConfig] (TCP listeners get SO_REUSEADDR on Unix, so ports
// held only by connections in TIME_WAIT count as free), and closes the
// sockets at once. A port yielded may be taken by another process before
// the caller binds it; to listen on any free port, bind port 0 instead.
//
// Candidates are visited in a random order, different on each call, so
// that concurrent callers rarely pick the same port. The order is a keyed
// permutation of the candidates, computed as it goes: there is no slice
// of all candidates.
//
// A port whose bind fails with "address in use" or "permission denied"
// (a privileged port, or on Windows a port in an excluded range) is
// skipped. Any other bind error, such as "cannot assign requested
// address" for an Addr that is not on this host, is yielded once, with
// port 0, and Free stops: the error is a *[net.OpError] that keeps its
// syscall cause. An invalid cfg is yielded the same way.
//
// Free stops when the caller breaks out of the loop, when every candidate
// has been tried (with no error: the caller counts what it got), or when
// ctx is done, after yielding ctx.Err().
//
// Each range over the result starts afresh: it reads the ephemeral range
// again and draws a new order.
func Free(ctx context.Context, cfg FreeConfig) iter.Seq2[ports.Port, error] {
	return free(ctx, cfg, freeEnv{
		ephemeral: EphemeralRange,
		bind:      bindClose,
		skip:      bindBusy,
	})
}

// freeEnv is what Free needs from the system; tests replace it.
type freeEnv struct {
	ephemeral func() (ports.Range, error)
	// bind binds address on network ("tcp" or "udp") and closes the
	// socket at once.
	bind func(ctx context.Context, network, address string) error
	// skip reports whether a bind error means "not free".
	skip func(error) bool
}

func free(ctx context.Context, cfg FreeConfig, env freeEnv) iter.Seq2[ports.Port, error] {
	return func(yield func(ports.Port, error) bool) {
		networks, err := freeNetworks(cfg.Proto)
		if err != nil {
			yield(0, err)
			return
		}
		var cands candidates
		switch r := cfg.Range; {
		case r == ports.Range{}:
			eph, err := env.ephemeral()
			if err != nil || eph.First > eph.Last {
				eph = ports.ClassDynamic.Range()
			}
			cands = outside(ports.Range{First: 1024, Last: ports.MaxPort}, eph)
		case r.First > r.Last:
			yield(0, fmt.Errorf("hostports: free: invalid range %d-%d: first port above last", r.First, r.Last))
			return
		default:
			cands.add(ports.Range{First: max(r.First, 1), Last: r.Last})
		}
		if cands.n == 0 {
			return
		}

		u64 := rand.Uint64
		if cfg.Rand != nil {
			u64 = cfg.Rand.Uint64
		}
		order := newPermutation(cands.n, u64)
		var buf []byte // for the host:port string
	candidate:
		for i := range order.size() {
			j := order.at(i)
			if j >= uint32(cands.n) {
				continue
			}
			if err := ctx.Err(); err != nil {
				yield(0, err)
				return
			}
			port := cands.at(int(j))
			buf = appendHostPort(buf[:0], cfg.Addr, port)
			for _, network := range networks {
				err := env.bind(ctx, network, string(buf))
				if err == nil {
					continue
				}
				if env.skip(err) {
					continue candidate
				}
				yield(0, err)
				return
			}
			if !yield(port, nil) {
				return
			}
		}
	}
}

// freeNetworks returns the net networks for protos: TCP first, each once.
func freeNetworks(protos []ports.Proto) ([]string, error) {
	if len(protos) == 0 {
		return []string{"tcp"}, nil
	}
	var tcp, udp bool
	for _, p := range protos {
		switch p {
		case ports.ProtoTCP:
			tcp = true
		case ports.ProtoUDP:
			udp = true
		default:
			return nil, fmt.Errorf("hostports: free: protocol %v: %w", p, errors.ErrUnsupported)
		}
	}
	switch {
	case tcp && udp:
		return []string{"tcp", "udp"}, nil
	case udp:
		return []string{"udp"}, nil
	}
	return []string{"tcp"}, nil
}

// appendHostPort appends addr:port in the form net.Listen takes, with an
// empty host for the zero addr.
func appendHostPort(b []byte, addr netip.Addr, port ports.Port) []byte {
	if addr.IsValid() {
		return netip.AddrPortFrom(addr, uint16(port)).AppendTo(b)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(port), 10)
}

// bindClose binds address and closes the socket.
func bindClose(ctx context.Context, network, address string) error {
	var lc net.ListenConfig
	if network == "udp" {
		c, err := lc.ListenPacket(ctx, network, address)
		if err != nil {
			return err
		}
		c.Close()
		return nil
	}
	l, err := lc.Listen(ctx, network, address)
	if err != nil {
		return err
	}
	l.Close()
	return nil
}

// candidates is a set of at most two disjoint port ranges, indexed
// 0..n-1 in increasing port order.
type candidates struct {
	r  [2]ports.Range
	nr int
	n  int
}

func (c *candidates) add(r ports.Range) {
	c.r[c.nr] = r
	c.nr++
	c.n += r.Len()
}

// at returns the port with index j < c.n.
func (c *candidates) at(j int) ports.Port {
	for _, r := range c.r[:c.nr] {
		if j < r.Len() {
			return r.First + ports.Port(j)
		}
		j -= r.Len()
	}
	panic("hostports: candidate index out of range")
}

// outside returns the ports of r that are not in ex.
func outside(r, ex ports.Range) candidates {
	var c candidates
	if ex.Last < r.First || ex.First > r.Last {
		c.add(r)
		return c
	}
	if ex.First > r.First {
		c.add(ports.Range{First: r.First, Last: ex.First - 1})
	}
	if ex.Last < r.Last {
		c.add(ports.Range{First: ex.Last + 1, Last: r.Last})
	}
	return c
}

// permutation is a keyed bijection of [0, 2^bits). Visiting at(0),
// at(1), ... at(size()-1) and skipping values >= n ("cycle walking")
// visits each of 0..n-1 exactly once, in an order set by the keys, with
// fewer than 2n steps and no memory beyond the keys.
//
// Each step is a bijection on bits-wide values: adding or xoring a
// constant, multiplying by an odd constant, and x ^= x>>s for s >= 1.
type permutation struct {
	mask  uint32
	shift uint
	add   uint32
	mul1  uint32 // odd
	mul2  uint32 // odd
	xor   uint32
}

// newPermutation returns a permutation covering n > 0 values with keys
// drawn from u64.
func newPermutation(n int, u64 func() uint64) permutation {
	w := uint(bits.Len32(uint32(n - 1))) // 2^w >= n
	k1, k2 := u64(), u64()
	return permutation{
		mask:  uint32(1)<<w - 1,
		shift: max(1, (w+1)/2),
		add:   uint32(k1),
		mul1:  uint32(k1>>32) | 1,
		mul2:  uint32(k2) | 1,
		xor:   uint32(k2 >> 32),
	}
}

// size returns 2^bits, the number of indices to visit.
func (p permutation) size() uint32 { return p.mask + 1 }

func (p permutation) at(i uint32) uint32 {
	x := (i + p.add) & p.mask
	x = (x * p.mul1) & p.mask
	x ^= x >> p.shift
	x = (x * p.mul2) & p.mask
	x ^= x >> p.shift
	return (x ^ p.xor) & p.mask
}
