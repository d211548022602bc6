// Package flow groups packets into connections: one Flow per protocol
// and pair of endpoints, both directions merged, with the client told
// from the server, packet and byte counts each way, TCP state and
// retransmissions.
//
// A Table holds the open flows. Memory stays bounded whatever the input:
// a flow idle for longer than the timeout (in packet time) is finished
// and handed to the caller, and when the table is full the flow idle the
// longest goes the same way.
package flow

import (
	"container/list"
	"net/netip"
	"time"

	"github.com/portkit/ports"
)

// TCP flag bits, as in the TCP header.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	ACK = 0x10
)

// Segment is what a Table needs of one packet.
type Segment struct {
	Time     time.Time
	Proto    ports.Proto
	Src, Dst netip.AddrPort
	// TCP only: the flags (FIN, SYN, RST, ACK...) and sequence number.
	Flags uint16
	Seq   uint32
	// Payload is the transport payload's length (even if the capture cut
	// it short); Length is the packet's length on the wire.
	Payload int
	Length  int
}

// State is a TCP connection's state as the packets show it.
type State uint8

const (
	StateNone        State = iota // not TCP
	StateIncomplete               // no handshake seen: the capture began mid-connection
	StateSYN                      // a SYN, no SYN-ACK yet
	StateEstablished              // the handshake was seen
	StateFINOne                   // one side sent FIN
	StateClosed                   // both sides sent FIN
	StateReset                    // a RST ended it
)

var stateNames = [...]string{"-", "incomplete", "syn-sent", "established", "closing", "closed", "reset"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(?)"
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Direction indexes per-direction counters: ToServer is client to server.
const (
	ToServer = 0
	ToClient = 1
)

// Flow is one connection.
type Flow struct {
	Proto          ports.Proto
	Client, Server netip.AddrPort
	// ClientBySYN is true when the client was the side that sent the
	// SYN; otherwise it was told by the ports (see Config.IsService).
	ClientBySYN bool
	Start, End  time.Time // first and last packet
	Packets     [2]uint64 // by direction: ToServer, ToClient
	Bytes       [2]uint64 // wire bytes by direction
	Payload     [2]uint64 // transport payload bytes by direction
	Retransmits [2]uint64 // TCP segments whose payload was sent before
	State       State
	// HandshakeSeen is set when SYN, SYN-ACK were both seen.
	HandshakeSeen bool
}

// Duration returns End - Start.
func (f *Flow) Duration() time.Duration { return f.End.Sub(f.Start) }

// Config sets up a Table. The zero value is usable.
type Config struct {
	// IdleTimeout finishes a flow without packets for this long, in
	// packet time; 0 means 2 minutes. ClosedTimeout does the same for a
	// flow closed by FIN or RST (to catch late retransmissions); 0 means
	// 10 seconds.
	IdleTimeout, ClosedTimeout time.Duration
	// MaxFlows bounds the open flows; 0 means 200,000. When full, the
	// flow idle the longest is finished early.
	MaxFlows int
	// IsService reports whether a port is a known service's, to tell
	// the server of a flow whose handshake was not seen. Nil uses the
	// port classes alone: system, then user, then dynamic ports serve.
	IsService func(ports.Proto, ports.Port) bool
}

// key is a flow's identity, in a canonical order: pointer-free, so the
// map needs no scanning by the garbage collector.
type key struct {
	a, b   [16]byte
	ap, bp uint16
	proto  ports.Proto
	is4    bool // the addresses are IPv4 (held in their IPv6-mapped form)
}

type entry struct {
	f    Flow
	key  key
	elem *list.Element
	// TCP sequence tracking per direction: the highest sequence end seen.
	nextSeq [2]uint32
	seqSet  [2]bool
	fin     [2]bool
	// a is the flow key's first endpoint; aIsClient says which side it is.
	aIsClient bool
}

// Table is the set of open flows. It is not safe for concurrent use.
type Table struct {
	cfg     Config
	m       map[key]*entry
	lru     *list.List // of *entry, least recently seen first
	now     time.Time
	expired time.Time // when expire last ran
}

// New returns an empty Table; cfg may be nil.
func New(cfg *Config) *Table {
	t := &Table{m: map[key]*entry{}, lru: list.New()}
	if cfg != nil {
		t.cfg = *cfg
	}
	if t.cfg.IdleTimeout == 0 {
		t.cfg.IdleTimeout = 2 * time.Minute
	}
	if t.cfg.ClosedTimeout == 0 {
		t.cfg.ClosedTimeout = 10 * time.Second
	}
	if t.cfg.MaxFlows == 0 {
		t.cfg.MaxFlows = 200_000
	}
	return t
}

// Len returns the number of open flows.
func (t *Table) Len() int { return len(t.m) }

func keyOf(s *Segment) (k key, srcIsA bool) {
	src, dst := s.Src.Addr().As16(), s.Dst.Addr().As16()
	sp, dp := s.Src.Port(), s.Dst.Port()
	k.proto = s.Proto
	k.is4 = s.Src.Addr().Is4()
	if cmpEndpoint(src, sp, dst, dp) <= 0 {
		k.a, k.ap, k.b, k.bp = src, sp, dst, dp
		return k, true
	}
	k.a, k.ap, k.b, k.bp = dst, dp, src, sp
	return k, false
}

func cmpEndpoint(a [16]byte, ap uint16, b [16]byte, bp uint16) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return int(ap) - int(bp)
}

// Add accounts one segment, and calls emit with each flow it finishes:
// flows idle past their timeout at this segment's time, and the oldest
// flow when the table is full. The *Flow is valid only during the call.
func (t *Table) Add(s *Segment, emit func(*Flow)) {
	if s.Time.After(t.now) {
		t.now = s.Time
	}
	if t.now.Sub(t.expired) >= time.Second {
		// Look for idle flows once per second of packet time.
		t.expired = t.now
		t.expire(emit)
	}
	k, srcIsA := keyOf(s)
	e := t.m[k]
	if e == nil {
		if len(t.m) >= t.cfg.MaxFlows {
			t.finish(t.lru.Front().Value.(*entry), emit)
		}
		e = &entry{key: k}
		e.f.Proto = s.Proto
		e.f.Start = s.Time
		// Until a SYN says otherwise, the sender is the client unless its
		// port looks like the server's.
		clientIsSrc := !t.serverSide(s.Proto, s.Src.Port(), s.Dst.Port())
		e.aIsClient = clientIsSrc == srcIsA
		if s.Proto == ports.ProtoTCP {
			e.f.State = StateIncomplete
		}
		e.elem = t.lru.PushBack(e)
		t.m[k] = e
	} else {
		t.lru.MoveToBack(e.elem)
	}
	if s.Proto == ports.ProtoTCP && s.Flags&SYN != 0 && s.Flags&ACK == 0 && !e.f.ClientBySYN {
		// A bare SYN names the client for certain.
		e.aIsClient = srcIsA
		e.f.ClientBySYN = true
	}
	dir := ToClient
	if srcIsA == e.aIsClient {
		dir = ToServer
	}
	if s.Time.After(e.f.End) {
		e.f.End = s.Time
	}
	if s.Time.Before(e.f.Start) {
		e.f.Start = s.Time
	}
	e.f.Packets[dir]++
	e.f.Bytes[dir] += uint64(s.Length)
	e.f.Payload[dir] += uint64(s.Payload)
	if s.Proto == ports.ProtoTCP {
		e.tcp(s, dir)
	}
}

// tcp follows the state and counts retransmissions: a segment whose
// payload ends at or before the highest sequence already seen that way.
func (e *entry) tcp(s *Segment, dir int) {
	f := s.Flags
	end := s.Seq + uint32(s.Payload)
	if f&(SYN|FIN) != 0 {
		end++
	}
	if e.seqSet[dir] && s.Payload > 0 && seqLE(end, e.nextSeq[dir]) {
		e.f.Retransmits[dir]++
	}
	if !e.seqSet[dir] || seqLT(e.nextSeq[dir], end) {
		e.nextSeq[dir], e.seqSet[dir] = end, true
	}
	switch {
	case f&RST != 0:
		e.f.State = StateReset
	case f&SYN != 0 && f&ACK == 0:
		if e.f.State == StateIncomplete {
			e.f.State = StateSYN
		}
	case f&SYN != 0 && f&ACK != 0:
		if e.f.State == StateSYN {
			e.f.State = StateEstablished
			e.f.HandshakeSeen = true
		}
	}
	if f&FIN != 0 && e.f.State != StateReset {
		e.fin[dir] = true
		if e.fin[0] && e.fin[1] {
			e.f.State = StateClosed
		} else {
			e.f.State = StateFINOne
		}
	}
}

func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }

// serverSide reports whether the source port src, rather than dst, is the
// server's: the known service's port, else the lower port class, else
// the lower number.
func (t *Table) serverSide(proto ports.Proto, src, dst uint16) bool {
	if t.cfg.IsService != nil {
		s, d := t.cfg.IsService(proto, ports.Port(src)), t.cfg.IsService(proto, ports.Port(dst))
		if s != d {
			return s
		}
	}
	cs, cd := ports.Port(src).Class(), ports.Port(dst).Class()
	if cs != cd {
		return cs < cd
	}
	return src < dst
}

// expire finishes the flows idle past their timeout.
func (t *Table) expire(emit func(*Flow)) {
	// No flow idle less than the shorter timeout is due.
	soonest := min(t.cfg.ClosedTimeout, t.cfg.IdleTimeout)
	for el := t.lru.Front(); el != nil; {
		e := el.Value.(*entry)
		idle := t.now.Sub(e.f.End)
		if idle < soonest {
			return // the list is ordered by last packet: all later ones are younger
		}
		next := el.Next()
		closed := e.f.State == StateClosed || e.f.State == StateReset
		if closed || idle >= t.cfg.IdleTimeout {
			t.finish(e, emit)
		} else if idle < t.cfg.IdleTimeout {
			// Open and not idle long enough; younger ones are neither.
			// Closed ones behind it may be due, but are found on later
			// calls once this one goes.
			return
		}
		el = next
	}
}

func (t *Table) finish(e *entry, emit func(*Flow)) {
	t.lru.Remove(e.elem)
	delete(t.m, e.key)
	e.fill()
	emit(&e.f)
}

// fill sets Client and Server from the key.
func (e *entry) fill() {
	a, b := netip.AddrFrom16(e.key.a), netip.AddrFrom16(e.key.b)
	if e.key.is4 {
		a, b = a.Unmap(), b.Unmap()
	}
	ap, bp := netip.AddrPortFrom(a, e.key.ap), netip.AddrPortFrom(b, e.key.bp)
	if e.aIsClient {
		e.f.Client, e.f.Server = ap, bp
	} else {
		e.f.Client, e.f.Server = bp, ap
	}
}

// Flush finishes every open flow, oldest first.
func (t *Table) Flush(emit func(*Flow)) {
	for el := t.lru.Front(); el != nil; {
		next := el.Next()
		t.finish(el.Value.(*entry), emit)
		el = next
	}
}
