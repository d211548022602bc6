package nfteval_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/nfteval"
)

// BenchmarkEval evaluates a connection that passes 200 port rules and a
// lookup in a 1,000-prefix interval set before the policy drops it.
func BenchmarkEval(b *testing.B) {
	p := porttest.NewPair(b, nil)
	var sb strings.Builder
	sb.WriteString("table inet bench {\n\tset allow { type ipv4_addr; flags interval; elements = { ")
	for i := 0; i < 1000; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "10.%d.%d.0/24", i/256, i%256)
	}
	sb.WriteString(" } }\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t\tct state established,related accept\n")
	sb.WriteString("\t\tip saddr @allow tcp dport 22 accept\n")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&sb, "\t\ttcp dport %d counter accept\n", 30000+i)
	}
	sb.WriteString("\t}\n}\n")
	cmd := p.A.Command(b.Context(), porttest.LookTool(b, "nft", "nftables"), "-f", "-")
	cmd.Stdin = strings.NewReader(sb.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("nft: %v: %s", err, out)
	}
	var rs *nfteval.Ruleset
	if err := p.A.Do(func() error {
		var err error
		rs, err = nfteval.Load()
		return err
	}); err != nil {
		b.Fatal(err)
	}
	c := nfteval.Conn{IIf: p.A.Link, Src: p.B.Addr4, Dst: p.A.Addr4, Proto: ports.ProtoTCP, DstPort: 40000}
	if r := rs.Eval(c); r.Verdict != nfteval.Dropped || r.Rule.Handle != 0 {
		b.Fatalf("%v, want the policy's drop", r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rs.Eval(c)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}
