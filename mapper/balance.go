package mapper

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// Balance is how a mapping spreads its clients over its destinations.
type Balance uint8

// Balancing algorithms, haproxy's names.
const (
	RoundRobin Balance = iota // in turn, in proportion to the weights (smooth weighted round-robin)
	LeastConn                 // the one with the fewest connections per weight now
	Source                    // a consistent hash of the client address (rendezvous hashing, weighted)
	First                     // the first in order with room under its max_conns
)

func (b Balance) String() string {
	switch b {
	case RoundRobin:
		return "roundrobin"
	case LeastConn:
		return "leastconn"
	case Source:
		return "source"
	case First:
		return "first"
	}
	return "Balance(" + strconv.Itoa(int(b)) + ")"
}

// ParseBalance parses "roundrobin", "leastconn", "source" or "first"
// ("" is roundrobin).
func ParseBalance(s string) (Balance, error) {
	if s == "" {
		return RoundRobin, nil
	}
	for _, b := range []Balance{RoundRobin, LeastConn, Source, First} {
		if s == b.String() {
			return b, nil
		}
	}
	return 0, fmt.Errorf("unknown balance %q (want roundrobin, leastconn, source or first)", s)
}

// Dest is one destination of a mapping as Rule.To writes it:
// "HOST:PORT", then optionally, separated by spaces, "weight=N" (1-256,
// default 1: its share of the clients against the others') and
// "max_conns=N" (connections to it at once; default 0, no limit).
type Dest struct {
	Addr     string // HOST:PORT
	Weight   int    // 1-256
	MaxConns int    // 0: no limit
}

// MaxWeight is the largest weight of a destination, haproxy's.
const MaxWeight = 256

// ErrBadDest is wrapped by the errors of ParseDest.
var ErrBadDest = errors.New("bad destination")

// destError is an error of ParseDest: its message names the
// destination, and errors.Is finds ErrBadDest.
type destError struct{ msg string }

func (e *destError) Error() string        { return e.msg }
func (e *destError) Is(target error) bool { return target == ErrBadDest }

func badDest(format string, args ...any) error { return &destError{fmt.Sprintf(format, args...)} }

// ParseDest parses a destination of Rule.To. Its errors match ErrBadDest.
func ParseDest(s string) (Dest, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return Dest{}, badDest("an empty destination")
	}
	d := Dest{Addr: fields[0], Weight: 1}
	if err := checkHostPort(d.Addr); err != nil {
		return Dest{}, &destError{err.Error()}
	}
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || (k != "weight" && k != "max_conns") {
			return Dest{}, badDest("destination %q: %q is not weight=N or max_conns=N", s, f)
		}
		if seen[k] {
			return Dest{}, badDest("destination %q: %s given twice", s, k)
		}
		seen[k] = true
		n, err := strconv.Atoi(v)
		switch {
		case k == "weight" && (err != nil || n < 1 || n > MaxWeight):
			return Dest{}, badDest("destination %q: weight %q is not 1-%d", s, v, MaxWeight)
		case k == "max_conns" && (err != nil || n < 0):
			return Dest{}, badDest("destination %q: max_conns %q is not a count", s, v)
		case k == "weight":
			d.Weight = n
		default:
			d.MaxConns = n
		}
	}
	return d, nil
}

// String writes d back as Rule.To does, options only when not default.
func (d Dest) String() string {
	s := d.Addr
	if d.Weight > 1 {
		s += " weight=" + strconv.Itoa(d.Weight)
	}
	if d.MaxConns > 0 {
		s += " max_conns=" + strconv.Itoa(d.MaxConns)
	}
	return s
}

// rendezvous is the score of destination addr for client under source
// balancing: the highest score wins, so removing a destination moves
// only the clients it had (each to its second-highest), and adding one
// takes to it only clients whose new score beats their old winner.
// Weighted as in "weighted rendezvous hashing" (-w/ln(h), h uniform in
// (0,1)). The hash is FNV-1a with a 64-bit finalizer: fixed, so that a
// restart or another process keeps each client where it was.
func rendezvous(client netip.Addr, addr string, weight int) float64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	a := client.Unmap().As16()
	for _, b := range a {
		h = (h ^ uint64(b)) * prime
	}
	for i := 0; i < len(addr); i++ {
		h = (h ^ uint64(addr[i])) * prime
	}
	// splitmix64's finalizer: FNV's low bits alone mix poorly.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	u := (float64(h>>11) + 0.5) / (1 << 53) // in (0, 1)
	return -float64(weight) / math.Log(u)
}
