package knock

import (
	"fmt"
	"net/netip"
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
	EventRefused                      // a new attempt was refused: too many attempts in progress
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
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is something that happened to a source's attempt on a door.
type Event struct {
	Kind  EventKind
	Src   netip.Addr
	Door  int // index in the doors given to NewMachine
	Name  string
	Stage int // knocks matched so far (for EventReset and EventTimeout: before the failure)
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
	}
	return e.Kind.String()
}

// DefaultMaxAttempts bounds the attempts a Machine tracks at once.
const DefaultMaxAttempts = 1 << 16

type attempt struct {
	src   netip.Addr
	door  int
	stage int // -1: invalidated
	start time.Time
}

// Machine is knockd's per-source knock state machine, without I/O: feed
// it hits in time order with Observe. It is not safe for concurrent use.
// See the package documentation for the rules it follows.
type Machine struct {
	doors    []Door
	attempts []*attempt
	// MaxAttempts bounds the attempts in progress (against floods of
	// spoofed sources); 0 means DefaultMaxAttempts.
	MaxAttempts int
}

// NewMachine returns a machine for doors, which it copies; doors with an
// empty sequence are disabled.
func NewMachine(doors []Door) *Machine {
	return &Machine{doors: append([]Door(nil), doors...)}
}

// SetSequence replaces door i's sequence (a new one-time sequence; nil
// disables the door) and drops the attempts on it.
func (m *Machine) SetSequence(i int, seq Sequence) {
	m.doors[i].Sequence = seq
	kept := m.attempts[:0]
	for _, a := range m.attempts {
		if a.door != i {
			kept = append(kept, a)
		}
	}
	m.attempts = kept
}

// Attempts returns the number of attempts in progress.
func (m *Machine) Attempts() int { return len(m.attempts) }

// Relevant reports whether h would pass knockd's packet filter: its
// destination port is in a door's sequence for its protocol, and for TCP
// its flags match that door's TCPFlags. Observe ignores other hits.
func (m *Machine) Relevant(h Hit) bool {
	for i := range m.doors {
		if m.admits(&m.doors[i], h) {
			return true
		}
	}
	return false
}

func (m *Machine) admits(d *Door, h Hit) bool {
	if d.Target.IsValid() && d.Target != h.Dst {
		return false
	}
	if h.Proto == ports.ProtoTCP && !d.TCPFlags.Match(h.Flags) {
		return false
	}
	for _, k := range d.Sequence {
		if k.Port == h.Port && k.Proto == h.Proto {
			return true
		}
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
	// Clean up completed, invalidated and expired attempts.
	kept := m.attempts[:0]
	for _, a := range m.attempts {
		d := &m.doors[a.door]
		switch {
		case a.stage < 0 || a.stage >= len(d.Sequence):
		case h.Time.Sub(a.start) >= d.seqTimeout():
			ev = append(ev, Event{Kind: EventTimeout, Src: a.src, Door: a.door, Name: d.Name, Stage: a.stage})
		default:
			kept = append(kept, a)
			continue
		}
	}
	clear(m.attempts[len(kept):])
	m.attempts = kept

	found := false
	for _, a := range m.attempts {
		d := &m.doors[a.door]
		if a.src != h.Src || (d.Target.IsValid() && d.Target != h.Dst) {
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
		}
	}
	if found {
		return ev
	}
	for i := range m.doors {
		d := &m.doors[i]
		if len(d.Sequence) == 0 || (d.Target.IsValid() && d.Target != h.Dst) {
			continue
		}
		if h.Proto == ports.ProtoTCP && !d.TCPFlags.Match(h.Flags) {
			continue
		}
		if first := d.Sequence[0]; first.Proto != h.Proto || first.Port != h.Port {
			continue
		}
		max := m.MaxAttempts
		if max <= 0 {
			max = DefaultMaxAttempts
		}
		if len(m.attempts) >= max {
			ev = append(ev, Event{Kind: EventRefused, Src: h.Src, Door: i, Name: d.Name})
			continue
		}
		a := &attempt{src: h.Src, door: i, start: h.Time}
		m.attempts = append(m.attempts, a)
		ev = m.advance(ev, a)
	}
	return ev
}

func (m *Machine) advance(ev []Event, a *attempt) []Event {
	d := &m.doors[a.door]
	a.stage++
	ev = append(ev, Event{Kind: EventStage, Src: a.src, Door: a.door, Name: d.Name, Stage: a.stage})
	if a.stage >= len(d.Sequence) {
		ev = append(ev, Event{Kind: EventOpen, Src: a.src, Door: a.door, Name: d.Name, Stage: a.stage})
	}
	return ev
}
