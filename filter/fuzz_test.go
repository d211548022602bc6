package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/bpf"

	"github.com/portkit/ports/pcapfile"
)

// parseSeeds are edge cases for FuzzParse, besides tcpdumpFilters.
var parseSeeds = []string{
	"",             // the empty filter
	"hots 1.2.3.4", // unknown word
	"(tcp",         // unbalanced
	"tcp)",         // unbalanced
	"()",           // empty group
	"host (1.1.1.1 or not 2.2.2.2) and (tcp)", // value group, then a term group
	"port 1 or (host 1.1.1.1) or 2",           // qualifiers from before a group
	"src or dst port 1 or 2",                  // two-word direction, repeated
	"dst and src net ::/0",                    // reversed two-word direction
	"net 0",                                   // tcpdump's odd short network
	"net 0.10",                                // promoted short network
	"net ::ffff:1.2.3.0/120",                  // IPv4-mapped IPv6 network
	"port 0x50 or 0120",                       // hex and octal ports
	"port 08",                                 // bad octal
	"portrange 65535-0",                       // backwards range
	"tcp[13] & 2 != 0",                        // byte offsets and bitwise and
	"!!!tcp",                                  // stacked negations
	"tcp port ftp-data",                       // service name with a hyphen
	"host fe80::1%eth0",                       // zone
	"a || b && c",                             // operators without primitives
}

// FuzzParse checks that Parse never panics, that its errors are
// *SyntaxError pointing inside the input, and that String gives text
// that parses back to the same tree and the same text.
func FuzzParse(f *testing.F) {
	for _, s := range tcpdumpFilters {
		f.Add(s)
	}
	for _, s := range parseSeeds {
		f.Add(s)
	}
	for _, s := range append(append(diffPrimitives, diffRefused...), diffUnsupported...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T %v, want *SyntaxError", s, err, err)
			}
			if se.Expr != s || se.Pos < 0 || se.Pos > len(s) || se.Msg == "" {
				t.Fatalf("Parse(%q): bad error %#v", s, se)
			}
			return
		}
		str := e.String()
		again, err := Parse(str)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q, which does not parse: %v", s, str, err)
		}
		if diff := cmp.Diff(e, again, cmpOpts); diff != "" {
			t.Fatalf("Parse(%q).String() = %q parses differently (-first +second):\n%s", s, str, diff)
		}
		if s2 := again.String(); s2 != str {
			t.Fatalf("String() of %q: %q, then %q", s, str, s2)
		}
	})
}

// FuzzCompile checks that every filter that parses compiles, for every
// link type, to a program the x/net/bpf VM accepts, and that the program
// and the evaluator in oracle_test.go agree on the packet.
func FuzzCompile(f *testing.F) {
	pkts := seedPackets(f)
	i := 0
	for _, s := range append(append(tcpdumpFilters, parseSeeds...), diffPrimitives...) {
		for li := range linkTypes {
			ps := pkts[linkTypes[li]]
			f.Add(s, uint8(li), ps[i%len(ps)])
			i += 7
		}
	}
	f.Fuzz(func(t *testing.T, s string, li uint8, pkt []byte) {
		e, err := Parse(s)
		if err != nil {
			return
		}
		link := linkTypes[int(li)%len(linkTypes)]
		checkCompiled(t, e, link, pkt)
	})
}

// checkCompiled compiles e for link, loads the program into the VM, and
// compares its verdict on pkt with the evaluator's.
func checkCompiled(t *testing.T, e *Expr, link pcapfile.LinkType, pkt []byte) {
	t.Helper()
	prog, err := e.Compile(link, 0)
	if errors.Is(err, ErrProgramTooLong) {
		return
	}
	if err != nil {
		if isLinkError(err) {
			return
		}
		t.Fatalf("Compile(%q, %v): %v", e, link, err)
	}
	checkProgram(t, e, link, prog, pkt)
}

// isLinkError reports whether err is a filter refused for the link
// type (ether host on a link without Ethernet addresses, vlan off
// Ethernet), as tcpdump refuses it.
func isLinkError(err error) bool {
	msg := err.Error()
	for _, m := range []string{"supported only on Ethernet", "not a broadcast link", "no VLAN support",
		"no MPLS support", "no VLAN match after MPLS", "unsupported protocol over mpls", "'llc' not supported for",
		"inbound/outbound not supported"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// checkProgram runs prog, compiled from e for link, in the package's
// interpreter and in x/net/bpf's VM, and compares their verdicts on pkt
// with each other and with the evaluator's, where that is defined.
func checkProgram(t *testing.T, e *Expr, link pcapfile.LinkType, prog []bpf.Instruction, pkt []byte) {
	t.Helper()
	xvm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("Compile(%q, %v): the VM rejects the program: %v\n%s", e, link, err, listing(prog))
	}
	ours, err := newVM(prog)
	if err != nil {
		t.Fatalf("Compile(%q, %v): %v", e, link, err)
	}
	n, err := xvm.Run(pkt)
	if err != nil {
		t.Fatalf("Compile(%q, %v): Run: %v", e, link, err)
	}
	got := ours.run(pkt, uint32(len(pkt))) > 0
	if got != (n > 0) {
		t.Fatalf("%q on %v packet % x: the interpreter says %v, x/net/bpf %v\n%s", e, link, pkt, got, n > 0, listing(prog))
	}
	if want, defined := evalOracle(e, link, pkt, len(pkt)); defined && got != want {
		t.Fatalf("%q on %v packet % x: program says %v, evaluator %v\n%s", e, link, pkt, got, want, listing(prog))
	}
}

func listing(prog []bpf.Instruction) string {
	var b strings.Builder
	for i, ins := range prog {
		fmt.Fprintf(&b, "(%03d) %v\n", i, ins)
	}
	return b.String()
}

// seedPackets returns packets of every link type, from the synthetic
// captures.
func seedPackets(tb testing.TB) map[pcapfile.LinkType][][]byte {
	tb.Helper()
	out := make(map[pcapfile.LinkType][][]byte)
	for _, c := range syntheticCaptures(readAllCaptures(tb)) {
		for _, p := range c.pkts {
			out[c.link] = append(out[c.link], p.data)
		}
	}
	return out
}

// readAllCaptures reads every shared capture.
func readAllCaptures(tb testing.TB) []capPkt {
	tb.Helper()
	var all []capPkt
	for _, name := range sharedCaptures(tb) {
		pkts, err := readCapture(name)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		all = append(all, pkts...)
	}
	return all
}
