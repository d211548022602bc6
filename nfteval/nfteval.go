// Package nfteval tells what this machine's nftables ruleset does with a
// new connection from outside: accepted, dropped (or rejected), or not
// evaluated, naming the rule whose expressions are beyond it. It reads
// the ruleset over netlink and runs the input and prerouting base chains
// in priority order, as the kernel would for the connection's first
// packet. It never guesses: a rule that depends on something the
// connection does not fix (its source port, a packet mark, a rate) or on
// an expression it does not know makes the answer "not evaluated".
//
// iptables-nft rules are nftables rules and are evaluated the same way;
// its xtables matches and targets other than REJECT are not understood.
package nfteval

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"

	"github.com/portkit/ports"
)

// ErrNotImplemented is returned by Load where nftables does not exist.
// It wraps errors.ErrUnsupported.
var ErrNotImplemented = fmt.Errorf("nfteval: nftables needs linux, not %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Conn is the first packet of a new connection arriving on an interface.
type Conn struct {
	IIf     string     // the interface it arrives on, as "ip link" names it
	IIfIdx  int        // its index; 0 if unknown (then "meta iif" is not evaluated)
	Src     netip.Addr // the client's address; the zero Addr means any (rules on it are not evaluated)
	Dst     netip.Addr // this machine's address it is sent to; its family is the connection's
	Proto   ports.Proto
	DstPort uint16
}

// Verdict is what the ruleset does with a connection.
type Verdict uint8

const (
	NotEvaluated Verdict = iota // a rule is beyond the evaluator; Result.Reason says why
	Accepted
	Dropped // dropped or rejected (Result.Reject)
)

func (v Verdict) String() string {
	switch v {
	case Accepted:
		return "accepted"
	case Dropped:
		return "dropped"
	}
	return "not evaluated"
}

// MarshalText implements encoding.TextMarshaler.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// Rule names a rule: its table, chain and handle (as `nft -a list
// ruleset` prints it). Handle 0 is the chain's policy.
type Rule struct {
	Family string // "ip", "ip6", "inet", "netdev"
	Table  string
	Chain  string
	Handle uint64
}

func (r Rule) String() string {
	if r.Handle == 0 {
		return fmt.Sprintf("table %s %s chain %s policy", r.Family, r.Table, r.Chain)
	}
	return fmt.Sprintf("table %s %s chain %s handle %d", r.Family, r.Table, r.Chain, r.Handle)
}

// Result is the ruleset's verdict on one connection.
type Result struct {
	Verdict Verdict
	Reject  bool // Dropped by a reject (the client is told), not silently
	// Rule decided the verdict: the dropping rule or policy, the rule
	// not evaluated, or for Accepted the last base chain's accepting
	// rule or policy. It is zero when no base chain sees the connection.
	Rule   Rule
	Reason string // for NotEvaluated: what was not understood
}

func (r Result) String() string {
	switch {
	case r.Verdict == NotEvaluated:
		return fmt.Sprintf("not evaluated: %s: %s", r.Rule, r.Reason)
	case r.Rule == Rule{}:
		return r.Verdict.String() + " (no base chain)"
	case r.Reject:
		return fmt.Sprintf("rejected (%s)", r.Rule)
	}
	return fmt.Sprintf("%s (%s)", r.Verdict, r.Rule)
}

// Ruleset is a snapshot of the nftables ruleset. It is safe for
// concurrent use; Eval does not touch the kernel.
type Ruleset struct {
	impl rulesetImpl
}

type rulesetImpl interface {
	eval(c Conn) Result
}

// Load reads the ruleset of the calling thread's network namespace over
// netlink. It needs CAP_NET_ADMIN: without it the error wraps
// os.ErrPermission.
func Load() (*Ruleset, error) {
	impl, err := load()
	if errors.Is(err, ErrNotImplemented) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("nfteval: reading the nftables ruleset: %w", err)
	}
	return &Ruleset{impl: impl}, nil
}

// Eval returns what rs does with c. c.Dst must be valid.
func (rs *Ruleset) Eval(c Conn) Result {
	if !c.Dst.IsValid() {
		return Result{Reason: "no destination address"}
	}
	c.Dst = c.Dst.Unmap()
	c.Src = c.Src.Unmap()
	if c.Src.IsValid() && c.Src.Is4() != c.Dst.Is4() {
		return Result{Reason: fmt.Sprintf("source %s and destination %s are of different families", c.Src, c.Dst)}
	}
	return rs.impl.eval(c)
}

// exprName is the nft name of an expression type (*expr.Limit: "limit").
func exprName(e any) string {
	s := fmt.Sprintf("%T", e)
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	return strings.ToLower(s)
}
