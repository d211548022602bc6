package filter

import (
	"fmt"

	"golang.org/x/net/bpf"

	"github.com/portkit/ports/pcapfile"
)

// Matcher runs a compiled filter over packets read from a file, in the
// BPF virtual machine of golang.org/x/net/bpf: the same program a live
// capture gives the kernel. Matching allocates nothing. A Matcher is
// safe for concurrent use.
type Matcher struct {
	expr *Expr
	link pcapfile.LinkType
	prog []bpf.Instruction
	vm   *bpf.VM
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
// e matches every packet.
func (e *Expr) Matcher(link pcapfile.LinkType) (*Matcher, error) {
	prog, err := e.Compile(link, 0)
	if err != nil {
		return nil, err
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		// The compiler's output must always load; this is a bug.
		return nil, fmt.Errorf("filter: compiled program for %q rejected by the BPF VM: %w", e, err)
	}
	return &Matcher{expr: e, link: link, prog: prog, vm: vm}, nil
}

// Match reports whether the packet data, as captured (from the link
// header on, perhaps cut short by the snapshot length), passes the
// filter. A packet that ends before a field the filter needs does not.
// origLen is the packet's length on the wire; no primitive of the
// subset uses it yet (tcpdump's len, less and greater would).
func (m *Matcher) Match(data []byte, origLen int) bool {
	n, err := m.vm.Run(data)
	return err == nil && n > 0
}

// Expr returns the parsed filter (nil for the empty filter).
func (m *Matcher) Expr() *Expr { return m.expr }

// LinkType returns the link type the Matcher was compiled for.
func (m *Matcher) LinkType() pcapfile.LinkType { return m.link }

// Program returns the compiled program. The caller must not modify it.
func (m *Matcher) Program() []bpf.Instruction { return m.prog }
