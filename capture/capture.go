// Package capture reads packets live from a network interface, as
// tcpdump does, in pure Go: on Linux through an AF_PACKET socket (with
// github.com/mdlayher/packet), with the filter compiled by
// [github.com/portkit/ports/filter] and run by the kernel, so that
// packets the filter rejects are never copied to the program.
// [Handle.SetFilter] changes the filter of an open handle in place.
//
// Elsewhere, [Open] returns [ErrNotImplemented].
//
// # Use
//
//	h, err := capture.Open(ctx, "eth0", &capture.Config{Filter: "udp port 53"})
//	if err != nil { ... }
//	defer h.Close()
//	for p, err := range h.Packets(ctx) {
//		if err != nil { ... } // the last thing yielded: ctx.Err() or a read error
//		use(p.Data)        // valid only until the next iteration
//	}
//
// # Interfaces and link types
//
// An interface is named as in "ip link" ("eth0", "lo"). Its link type,
// the header in front of the network layer in each Packet's Data, is
// [Handle.LinkType], a pcap LINKTYPE_ value, from the interface's ARPHRD_
// hardware type:
//
//   - Ethernet (ARPHRD_ETHER: Ethernet, veth, bridges, ...) and loopback
//     (ARPHRD_LOOPBACK: Linux's lo has Ethernet-style headers with zero
//     addresses) give LinkTypeEthernet (1).
//   - Interfaces without a link header (ARPHRD_NONE: tun, WireGuard;
//     ARPHRD_RAWIP) give LinkTypeRaw (101): bare IPv4 or IPv6.
//   - IP tunnels and PPP (ARPHRD_TUNNEL, TUNNEL6, SIT, IPGRE, IP6GRE, PPP)
//     give LinkTypeLinuxSLL (113): the kernel's view of the packet from
//     the network layer on, behind a 16-byte "cooked" header that this
//     package writes, as libpcap does.
//   - Other types (802.11, InfiniBand, CAN, ...) are refused with an
//     error wrapping [ErrUnsupportedLink].
//
// The name "any" captures on every interface of the network namespace,
// as tcpdump -i any does, with LinkTypeLinuxSLL. Promiscuous mode needs
// a named interface.
//
// A socket captures in the network namespace of the thread that opened
// it: to capture inside another namespace, call Open on a thread that is
// in it (as porttest's Host.Do does); the Handle can be used from any
// goroutine afterwards.
//
// # What Packets yields
//
// Packets yields what tcpdump shows for the same interface and filter:
// packets received and packets sent, with [Packet.Direction] telling
// them apart. On a loopback interface every packet passes twice, once
// going out and once coming in; as in libpcap the outgoing copy is
// skipped, so each packet is seen once, as incoming. The kernel does
// that skipping (a check in front of the filter program), so those
// copies are not counted in [Stats] either; libpcap drops them after
// the kernel has counted them, so tcpdump's "received by filter" counts
// loopback packets twice.
//
// A VLAN tag that the kernel took off a frame before the capture saw it
// (drivers with VLAN offload do, and the kernel itself does on receive)
// is put back into Data after the MAC addresses, or after the cooked
// header, as libpcap does. As in tcpdump, the filter itself sees the
// frame without the tag.
//
// Timestamps are the kernel's (SO_TIMESTAMPNS): the time the packet was
// received or handed to the driver, not the time the program read it, so
// they stay right when the program falls behind. When the kernel gives
// none, the time of reading is used.
//
// Each packet is copied once, by recvmsg(2), into a buffer of the
// Handle (about Snaplen bytes); there is no memory-mapped ring
// (TPACKET_V3) as in libpcap, which matters only at high packet rates.
//
// # Differences from tcpdump
//
//   - Stats does not count the skipped outgoing copies on loopback (see
//     above).
//   - On "any", tcpdump 4.99 writes LINUX_SLL2 unless given -y LINUX_SLL;
//     this package writes LINUX_SLL, byte for byte as tcpdump -y
//     LINUX_SLL does.
//   - IP tunnels (ipip, sit) are cooked here; libpcap reads them as RAW.
//     Types libpcap would read cooked as a fallback are refused here.
//
// # Privileges
//
// Opening a capture needs root or CAP_NET_RAW (in the user namespace
// owning the network namespace); without, the error wraps
// [os.ErrPermission]. Promiscuous mode needs no more. A BufferSize above
// the system's net.core.rmem_max needs CAP_NET_ADMIN; without it the
// buffer is capped at rmem_max.
package capture

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portkit/ports/pcapfile"
)

// ErrNotImplemented is returned by Open on systems where this package
// cannot capture. It wraps errors.ErrUnsupported.
var ErrNotImplemented = fmt.Errorf("capture: live capture is not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// ErrNoSuchInterface is wrapped by the error from Open for an interface
// name that the network namespace does not have.
var ErrNoSuchInterface = errors.New("no such network interface")

// ErrUnsupportedLink is wrapped by the error from Open for an interface
// whose hardware type this package has no link type for.
var ErrUnsupportedLink = errors.New("unsupported link-layer type")

// ErrBusy is yielded by Packets when another iteration of the same
// Handle's Packets is already running.
var ErrBusy = errors.New("capture: packets already being read from this handle")

// DefaultSnaplen is the snapshot length when Config.Snaplen is 0, and the
// largest allowed: libpcap's and tcpdump's default, 256 KiB, which keeps
// whole packets even after GRO and on lo's 64 KiB MTU.
const DefaultSnaplen = 262144

// DefaultBufferSize is the socket receive buffer asked for when
// Config.BufferSize is 0: 2 MiB, libpcap's default buffer.
const DefaultBufferSize = 2 << 20

// AnyInterface is the interface name that captures on every interface.
const AnyInterface = "any"

// Config configures Open. A nil *Config means the zero value, whose
// fields mean the documented defaults.
type Config struct {
	// Snaplen is the snapshot length: at most this many bytes of each
	// packet are captured, counting the link header. 0 means
	// DefaultSnaplen; it must not be negative or above DefaultSnaplen.
	// The kernel cuts the packet, so the rest is never copied.
	Snaplen int

	// Filter is a filter in the tcpdump subset of package filter
	// ("udp port 53 and host 10.0.0.1"); empty captures everything. It
	// is compiled for the interface's link type and attached to the
	// socket before the socket is bound, so that the kernel never queues
	// a packet the filter rejects.
	Filter string

	// Promiscuous puts the interface into promiscuous mode for as long as
	// the Handle is open, to see frames addressed to other hosts. The
	// kernel counts promiscuous users, so other captures are unaffected.
	// It needs a named interface, not AnyInterface.
	Promiscuous bool

	// BufferSize is the socket's receive buffer in bytes (SO_RCVBUF),
	// which holds packets the program has not read yet; when it is full,
	// the kernel drops packets and counts them in Stats.Dropped. 0 means
	// DefaultBufferSize; it must not be negative. The kernel doubles the
	// value for its bookkeeping, enforces a minimum of a few KiB, and
	// without CAP_NET_ADMIN caps it at net.core.rmem_max.
	BufferSize int
}

// Packet is one captured packet: pcapfile's Packet, so that a live
// capture and a capture file yield the same thing. Packets fills every
// field but BadFraction and InterfaceIndex: LinkType is the Handle's,
// Ifindex the interface the packet passed, Direction whether it came in
// or went out.
//
// Data aliases the Handle's buffer: it is valid only until the next step
// of the iteration that yielded it, which overwrites it. Copy it (for
// example with bytes.Clone) to keep it.
type Packet = pcapfile.Packet

// Direction is pcapfile's Direction: whether a packet was received by
// the host or sent by it.
type Direction = pcapfile.Direction

// Directions.
const (
	DirectionUnknown = pcapfile.DirectionUnknown
	DirectionIn      = pcapfile.DirectionIn
	DirectionOut     = pcapfile.DirectionOut
)

// Stats counts packets since the Handle was opened.
type Stats struct {
	// Received counts the packets that passed the filter, including the
	// Dropped ones: the kernel's tp_packets, libpcap's ps_recv.
	Received uint64
	// Dropped counts the packets that passed the filter but were dropped
	// because the socket's receive buffer was full: tp_drops, ps_drop.
	Dropped uint64
}

// Handle is an open capture. Its methods are safe for concurrent use,
// except that only one iteration of Packets may run at a time.
type Handle struct {
	impl    osImpl
	iface   string
	link    pcapfile.LinkType
	snaplen int

	reading atomic.Bool

	mu     sync.Mutex // guards total and closed
	total  Stats
	closed bool
}

// osImpl is what an operating system provides for a Handle.
type osImpl interface {
	// next blocks until a packet arrives and fills p with it; p.Data
	// may alias a buffer that the next call overwrites. A read deadline
	// in the past wakes it with an error wrapping
	// os.ErrDeadlineExceeded.
	next(p *Packet) error
	// setReadDeadline sets the deadline for next; the zero time means
	// none.
	setReadDeadline(t time.Time) error
	// stats returns the counts since the last call.
	stats() (Stats, error)
	// setFilter compiles expr and puts it in place of the filter.
	setFilter(expr string) error
	// close releases the socket and wakes a blocked next, which then
	// returns an error wrapping net.ErrClosed.
	close() error
}

// Open starts capturing on the interface named iface (or AnyInterface),
// configured by cfg (nil for the defaults).
//
// Errors: an unknown interface wraps ErrNoSuchInterface, an interface of
// a type this package cannot capture wraps ErrUnsupportedLink, a filter
// that does not compile wraps the filter package's *filter.SyntaxError,
// a lack of privilege wraps os.ErrPermission ("needs root or
// CAP_NET_RAW"), and on systems without support the error is
// ErrNotImplemented.
//
// Open does not block; it returns ctx.Err() if ctx is already done.
func Open(ctx context.Context, iface string, cfg *Config) (*Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = &Config{}
	}
	c := *cfg
	switch {
	case c.Snaplen == 0:
		c.Snaplen = DefaultSnaplen
	case c.Snaplen < 0 || c.Snaplen > DefaultSnaplen:
		return nil, fmt.Errorf("capture: snaplen %d out of range 1 to %d", c.Snaplen, DefaultSnaplen)
	}
	switch {
	case c.BufferSize == 0:
		c.BufferSize = DefaultBufferSize
	case c.BufferSize < 0:
		return nil, fmt.Errorf("capture: negative buffer size %d", c.BufferSize)
	}
	if iface == "" {
		return nil, fmt.Errorf("capture: no interface name given (%q captures on all of them)", AnyInterface)
	}
	impl, link, err := openOS(iface, &c)
	if err != nil {
		return nil, err
	}
	return &Handle{impl: impl, iface: iface, link: link, snaplen: c.Snaplen}, nil
}

// Interface returns the name of the interface given to Open.
func (h *Handle) Interface() string { return h.iface }

// LinkType returns the type of the link header at the start of each
// packet's Data: what pcapfile.NewWriter, wire's Decode and filter's
// Compile take.
func (h *Handle) LinkType() pcapfile.LinkType { return h.link }

// Snaplen returns the snapshot length: no Packet's CaptureLength is
// larger.
func (h *Handle) Snaplen() int { return h.snaplen }

// aLongTimeAgo is a read deadline in the past, which wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// Packets returns the packets as they arrive. The sequence ends when the
// loop body breaks out of it, or after it yields an error, which is the
// last thing it yields: ctx.Err() once ctx is done (checked between
// packets, and a blocked read is woken at once), an error wrapping
// net.ErrClosed once the Handle is closed, ErrBusy if another iteration
// of this Handle is running (an iteration ends when its range loop
// does), or the error of a failed read.
//
// Each Packet's Data is valid only until the loop body returns; see
// Packet. Packets can be called again after an iteration ends, to go on
// reading.
func (h *Handle) Packets(ctx context.Context) iter.Seq2[Packet, error] {
	return func(yield func(Packet, error) bool) {
		if !h.reading.CompareAndSwap(false, true) {
			yield(Packet{}, ErrBusy)
			return
		}
		defer h.reading.Store(false)
		if err := ctx.Err(); err != nil {
			yield(Packet{}, err)
			return
		}
		// ctx is turned into a socket deadline: when it is done (cancelled
		// or past its deadline) the read deadline moves into the past,
		// which wakes a blocked read.
		woken := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(woken)
			h.impl.setReadDeadline(aLongTimeAgo)
		})
		defer func() {
			if !stop() {
				<-woken // it ran or is running: wait, then undo it
			}
			h.impl.setReadDeadline(time.Time{})
		}()
		var p Packet
		for {
			if err := h.impl.next(&p); err != nil {
				if ctxErr := ctx.Err(); ctxErr != nil {
					err = ctxErr
				} else {
					err = fmt.Errorf("capture: read %s: %w", h.iface, err)
				}
				yield(Packet{}, err)
				return
			}
			if !yield(p, nil) {
				return
			}
		}
	}
}

// SetFilter replaces the handle's filter with expr (the tcpdump subset of
// package filter; "" passes every packet) without closing the socket, so
// no packet is lost in between, as libpcap's pcap_setfilter does. Packets
// that the old filter passed and that are not read yet are still
// delivered. A bad expression leaves the old filter in place.
func (h *Handle) SetFilter(expr string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("capture: set filter on %s: %w", h.iface, net.ErrClosed)
	}
	if err := h.impl.setFilter(expr); err != nil {
		return fmt.Errorf("capture: %s: %w", h.iface, err)
	}
	return nil
}

// Stats returns the counts since Open. The kernel resets its counters
// each time they are read, so the Handle adds them up. After Close it
// returns the final counts, taken by Close.
func (h *Handle) Stats() (Stats, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return h.total, nil
	}
	if err := h.updateStats(); err != nil {
		return h.total, fmt.Errorf("capture: stats %s: %w", h.iface, err)
	}
	return h.total, nil
}

// updateStats adds the kernel's counts since the last call to h.total.
// h.mu must be held.
func (h *Handle) updateStats() error {
	d, err := h.impl.stats()
	if err != nil {
		return err
	}
	h.total.Received += d.Received
	h.total.Dropped += d.Dropped
	return nil
}

// Close stops the capture and releases the socket (and promiscuous
// mode), keeping the final Stats. A running iteration of Packets ends
// with an error wrapping net.ErrClosed. Closing a closed Handle does
// nothing.
func (h *Handle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	_ = h.updateStats() // best effort: the counts die with the socket
	if err := h.impl.close(); err != nil {
		return fmt.Errorf("capture: close %s: %w", h.iface, err)
	}
	return nil
}
