package knock

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/wire"
)

// Hit is one packet that may be a knock: a TCP segment or UDP datagram
// arriving at the server.
type Hit struct {
	Time  time.Time
	Src   netip.Addr // the knocker
	Dst   netip.Addr // the address knocked on; checked against Door.Target
	Proto ports.Proto
	Port  ports.Port    // destination port
	Flags wire.TCPFlags // TCP flags; ignored for UDP
}

// EventKind says what a hit did to an attempt.
type EventKind uint8

// Event kinds.
const (
	EventStage   EventKind = iota + 1 // the attempt advanced to Stage
	EventOpen                         // the attempt completed its sequence: run the door's command
	EventTimeout                      // the attempt expired at Stage before completing (noticed at the next hit)
	EventReset                        // a knock out of order invalidated the attempt at Stage
	EventRefused                      // no longer reported: the machine evicts instead (EventEvicted)
	EventEvicted                      // the attempt at Stage was dropped to make room for a new one (see Machine)
)

func (k EventKind) String() string {
	switch k {
	case EventStage:
		return "stage"
	case EventOpen:
		return "open"
	case EventTimeout:
		return "timeout"
	case EventReset:
		return "reset"
	case EventRefused:
		return "refused"
	case EventEvicted:
		return "evicted"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is something that happened to a source's attempt on a door.
type Event struct {
	Kind  EventKind
	Src   netip.Addr
	Door  int // index in the doors given to NewMachine
	Name  string
	Stage int // knocks matched so far (for EventReset, EventTimeout and EventEvicted: before the failure)
}

// String formats e as knockd logs it: "198.18.0.1: openSSH: Stage 1".
func (e Event) String() string {
	switch e.Kind {
	case EventStage:
		return fmt.Sprintf("%s: %s: Stage %d", e.Src, e.Name, e.Stage)
	case EventOpen:
		return fmt.Sprintf("%s: %s: OPEN SESAME", e.Src, e.Name)
	case EventTimeout:
		return fmt.Sprintf("%s: %s: sequence timeout (stage %d)", e.Src, e.Name, e.Stage)
	case EventReset:
		return fmt.Sprintf("%s: %s: sequence reset: knock out of order (stage %d)", e.Src, e.Name, e.Stage)
	case EventRefused:
		return fmt.Sprintf("%s: %s: attempt refused: too many attempts in progress", e.Src, e.Name)
	case EventEvicted:
		return fmt.Sprintf("%s: %s: attempt dropped at stage %d: too many attempts in progress", e.Src, e.Name, e.Stage)
	}
	return e.Kind.String()
}

// DefaultMaxAttempts bounds the attempts a Machine tracks at once.
const DefaultMaxAttempts = 1 << 16

type attempt struct {
	src      netip.Addr
	door     int
	stage    int // -1: invalidated
	deadline time.Time
	heap     int // index in Machine.expiry
	// prev and next link the attempts at stage 1, oldest first, while
	// this one is at stage 1.
	prev, next *attempt
	fresh      bool
}

// Machine is knockd's per-source knock state machine, without I/O: feed
// it hits in time order with Observe. It is not safe for concurrent use.
// It follows knockd 0.8's sniff() and process_attempt():
//
//   - Only packets to a port of some sequence are considered (knockd's
//     pcap filter admits nothing else), and for TCP only those whose flags
//     match the door's TCPFlags: packets to any other port, and TCP
//     packets with other flags, are ignored and do not reset anything.
//   - A source with no attempt in progress starts one for every door whose
//     first knock the packet matches.
//   - A source with attempts in progress advances each attempt whose next
//     knock the packet matches, and invalidates each other one (a knock on
//     a port of a sequence out of order resets it). A packet that
//     invalidates an attempt does not start a new one.
//   - The timeout counts from the first knock; an expired attempt is
//     dropped when the next packet arrives, so a late knock can only start
//     a new attempt.
//   - A completed attempt runs the door's command; on the next packet the
//     source starts afresh.
//
// At most MaxAttempts attempts are tracked. When a first knock needs
// room, the oldest attempt still at stage 1 is dropped (a flood of
// spoofed first knocks only makes such attempts), so that a source that
// has got past the first knock keeps its place; only when every attempt
// is past stage 1 is the one nearest its timeout dropped. Each drop is
// an EventEvicted. A hit costs the same whatever the number of attempts
// in progress and of doors.
type Machine struct {
	doors []Door
	// MaxAttempts bounds the attempts in progress (against floods of
	// spoofed sources); 0 means DefaultMaxAttempts.
	MaxAttempts int

	bySrc  map[netip.Addr][]*attempt
	n      int
	expiry []*attempt // a min-heap by deadline
	// fresh is the list of attempts at stage 1, oldest first.
	freshHead, freshTail *attempt
	// first lists, for each knock, the doors whose sequence starts
	// with it; knocks the doors whose sequence has it anywhere.
	first  map[Knock][]int
	knocks map[Knock][]int
	done   []*attempt // to remove at the end of Observe
}

// NewMachine returns a machine for doors, which it copies; doors with an
// empty sequence are disabled.
func NewMachine(doors []Door) *Machine {
	m := &Machine{doors: append([]Door(nil), doors...), bySrc: make(map[netip.Addr][]*attempt)}
	m.index()
	return m
}

func (m *Machine) index() {
	m.first, m.knocks = make(map[Knock][]int), make(map[Knock][]int)
	for i, d := range m.doors {
		if len(d.Sequence) == 0 {
			continue
		}
		m.first[d.Sequence[0]] = append(m.first[d.Sequence[0]], i)
		for j, k := range d.Sequence {
			if !slices.Contains(d.Sequence[:j], k) {
				m.knocks[k] = append(m.knocks[k], i)
			}
		}
	}
}

// SetSequence replaces door i's sequence (a new one-time sequence; nil
// disables the door) and drops the attempts on it.
func (m *Machine) SetSequence(i int, seq Sequence) {
	m.doors[i].Sequence = seq
	var drop []*attempt
	for _, as := range m.bySrc {
		for _, a := range as {
			if a.door == i {
				drop = append(drop, a)
			}
		}
	}
	for _, a := range drop {
		m.remove(a)
	}
	m.index()
}

// Attempts returns the number of attempts in progress.
func (m *Machine) Attempts() int { return m.n }

// Relevant reports whether h would pass knockd's packet filter: its
// destination port is in a door's sequence for its protocol, and for TCP
// its flags match that door's TCPFlags. Observe ignores other hits.
func (m *Machine) Relevant(h Hit) bool {
	for _, i := range m.knocks[Knock{Port: h.Port, Proto: h.Proto}] {
		d := &m.doors[i]
		if d.Target.IsValid() && d.Target != h.Dst {
			continue
		}
		if h.Proto == ports.ProtoTCP && !d.TCPFlags.Match(h.Flags) {
			continue
		}
		return true
	}
	return false
}

// Observe feeds one hit to the machine and returns what it did, in
// order: a new slice, nil for an ignored hit (which does not allocate).
func (m *Machine) Observe(h Hit) []Event {
	if !m.Relevant(h) {
		return nil
	}
	var ev []Event
	// Drop the expired attempts.
	for len(m.expiry) > 0 && !h.Time.Before(m.expiry[0].deadline) {
		a := m.expiry[0]
		ev = append(ev, Event{Kind: EventTimeout, Src: a.src, Door: a.door, Name: m.doors[a.door].Name, Stage: a.stage})
		m.remove(a)
	}

	found := false
	for _, a := range m.bySrc[h.Src] {
		d := &m.doors[a.door]
		if d.Target.IsValid() && d.Target != h.Dst {
			continue
		}
		found = true
		if h.Proto == ports.ProtoTCP && !d.TCPFlags.Match(h.Flags) {
			continue // flags do not match: ignored, as knockd
		}
		next := d.Sequence[a.stage]
		if next.Proto == h.Proto && next.Port == h.Port {
			ev = m.advance(ev, a)
		} else {
			ev = append(ev, Event{Kind: EventReset, Src: a.src, Door: a.door, Name: d.Name, Stage: a.stage})
			a.stage = -1
			m.done = append(m.done, a)
		}
	}
	if !found {
		for _, i := range m.first[Knock{Port: h.Port, Proto: h.Proto}] {
			d := &m.doors[i]
			if d.Target.IsValid() && d.Target != h.Dst {
				continue
			}
			if h.Proto == ports.ProtoTCP && !d.TCPFlags.Match(h.Flags) {
				continue
			}
			max := m.MaxAttempts
			if max <= 0 {
				max = DefaultMaxAttempts
			}
			for m.n >= max {
				ev = m.evict(ev)
			}
			a := &attempt{src: h.Src, door: i, deadline: h.Time.Add(d.seqTimeout())}
			m.add(a)
			ev = m.advance(ev, a)
		}
	}
	for _, a := range m.done {
		m.remove(a)
	}
	clear(m.done)
	m.done = m.done[:0]
	return ev
}

func (m *Machine) advance(ev []Event, a *attempt) []Event {
	d := &m.doors[a.door]
	a.stage++
	ev = append(ev, Event{Kind: EventStage, Src: a.src, Door: a.door, Name: d.Name, Stage: a.stage})
	switch {
	case a.stage >= len(d.Sequence):
		ev = append(ev, Event{Kind: EventOpen, Src: a.src, Door: a.door, Name: d.Name, Stage: a.stage})
		m.done = append(m.done, a)
	case a.stage == 1:
		m.pushFresh(a)
	case a.stage == 2:
		m.unlinkFresh(a)
	}
	return ev
}

// evict drops the oldest attempt at stage 1, or if there is none the
// attempt nearest its deadline.
func (m *Machine) evict(ev []Event) []Event {
	a := m.freshHead
	if a == nil {
		a = m.expiry[0]
	}
	ev = append(ev, Event{Kind: EventEvicted, Src: a.src, Door: a.door, Name: m.doors[a.door].Name, Stage: a.stage})
	m.remove(a)
	return ev
}

func (m *Machine) add(a *attempt) {
	m.bySrc[a.src] = append(m.bySrc[a.src], a)
	m.n++
	a.heap = len(m.expiry)
	m.expiry = append(m.expiry, a)
	m.up(a.heap)
}

// remove forgets a; it may be called again for an attempt already
// removed.
func (m *Machine) remove(a *attempt) {
	if a.heap < 0 {
		return
	}
	m.unlinkFresh(a)
	as := m.bySrc[a.src]
	if i := slices.Index(as, a); i >= 0 {
		as = slices.Delete(as, i, i+1)
	}
	if len(as) == 0 {
		delete(m.bySrc, a.src)
	} else {
		m.bySrc[a.src] = as
	}
	m.n--
	i, last := a.heap, len(m.expiry)-1
	if i != last {
		m.swap(i, last)
	}
	m.expiry[last] = nil
	m.expiry = m.expiry[:last]
	if i != last {
		m.down(i)
		m.up(i)
	}
	a.heap = -1
}

func (m *Machine) pushFresh(a *attempt) {
	a.fresh, a.prev, a.next = true, m.freshTail, nil
	if m.freshTail != nil {
		m.freshTail.next = a
	} else {
		m.freshHead = a
	}
	m.freshTail = a
}

func (m *Machine) unlinkFresh(a *attempt) {
	if !a.fresh {
		return
	}
	if a.prev != nil {
		a.prev.next = a.next
	} else {
		m.freshHead = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	} else {
		m.freshTail = a.prev
	}
	a.fresh, a.prev, a.next = false, nil, nil
}

func (m *Machine) less(i, j int) bool {
	return m.expiry[i].deadline.Before(m.expiry[j].deadline)
}

func (m *Machine) swap(i, j int) {
	m.expiry[i], m.expiry[j] = m.expiry[j], m.expiry[i]
	m.expiry[i].heap, m.expiry[j].heap = i, j
}

func (m *Machine) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !m.less(i, p) {
			return
		}
		m.swap(i, p)
		i = p
	}
}

func (m *Machine) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(m.expiry) {
			return
		}
		if c+1 < len(m.expiry) && m.less(c+1, c) {
			c++
		}
		if !m.less(c, i) {
			return
		}
		m.swap(i, c)
		i = c
	}
}
