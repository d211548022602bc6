package filter

import (
	"encoding/binary"
	"fmt"

	"github.com/portkit/ports/pcapfile"
	"golang.org/x/net/bpf"
)

// Matcher runs a compiled filter over packets read from a file, in the
// interpreter of classic BPF that works as the kernel's and libpcap's
// do: the same program a live capture gives the kernel. Matching
// allocates nothing. A Matcher is safe for concurrent use.
type Matcher struct {
	expr *Expr
	link pcapfile.LinkType
	prog []bpf.Instruction
	vm   *vm
}

// NewMatcher parses and compiles expr for packets of link type link.
// Errors are those of Compile.
func NewMatcher(expr string, link pcapfile.LinkType) (*Matcher, error) {
	e, err := Parse(expr)
	if err != nil {
		return nil, err
	}
	return e.Matcher(link)
}

// Matcher compiles e into a Matcher for packets of link type link. A nil
// e matches every packet. On a NULL link it takes the address family in
// the host's byte order, as tcpdump does for a file written in it; use
// MatcherOrder for a file of either order.
func (e *Expr) Matcher(link pcapfile.LinkType) (*Matcher, error) {
	return e.MatcherOrder(link, nil)
}

// MatcherOrder is Matcher for the packets of a capture file written in
// byte order order (nil: the host's). It matters for NULL links only,
// where the address family is written in the file's byte order: libpcap
// swaps it to the reader's when the orders differ, so that tcpdump
// matches the family in the file's order, and never in the other one.
func (e *Expr) MatcherOrder(link pcapfile.LinkType, order binary.ByteOrder) (*Matcher, error) {
	prog, err := e.compile(link, order, 0, false)
	if err != nil {
		return nil, err
	}
	vm, err := newVM(prog)
	if err != nil {
		// The compiler's output must always load; this is a bug.
		return nil, fmt.Errorf("filter: compiled program for %q rejected by the BPF VM: %w", e, err)
	}
	return &Matcher{expr: e, link: link, prog: prog, vm: vm}, nil
}

// Match reports whether the packet data, as captured (from the link
// header on, perhaps cut short by the snapshot length), passes the
// filter. A packet that ends before a field the filter needs does not.
// origLen is the packet's length on the wire, which len, less and
// greater test, as tcpdump takes it from the file's record (a negative
// one counts as len(data)).
func (m *Matcher) Match(data []byte, origLen int) bool {
	if origLen < 0 {
		origLen = len(data)
	}
	wire := uint32(min(uint64(origLen), 1<<32-1))
	return m.vm.run(data, wire) > 0
}

// Expr returns the parsed filter (nil for the empty filter).
func (m *Matcher) Expr() *Expr { return m.expr }

// LinkType returns the link type the Matcher was compiled for.
func (m *Matcher) LinkType() pcapfile.LinkType { return m.link }

// Program returns the compiled program. The caller must not modify it.
func (m *Matcher) Program() []bpf.Instruction { return m.prog }
