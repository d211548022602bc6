package nfteval

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/portkit/ports"
	"golang.org/x/sys/unix"
)

// maxJumps is the kernel's NFT_JUMP_STACK_SIZE; the kernel refuses a
// ruleset that goes deeper, so a deeper walk means a snapshot torn by a
// concurrent change.
const maxJumps = 16

type chain struct {
	family nftables.TableFamily
	table  string
	name   string
	hook   uint32 // for base chains
	prio   int32
	base   bool
	device string
	policy *nftables.ChainPolicy
	rules  []*nftables.Rule
}

type set struct {
	s     *nftables.Set
	elems []nftables.SetElement // sorted by key; for interval sets ends before starts at equal keys
	exact map[string]int        // key -> index in elems, for the sets without intervals
}

type linuxRuleset struct {
	chains map[objKey]*chain
	sets   map[objKey]*set
	bases  []*chain
}

// objKey names a chain or set: names are per table, tables per family.
type objKey struct {
	family      nftables.TableFamily
	table, name string
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyNetdev:
		return "netdev"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	}
	return fmt.Sprintf("family%d", f)
}

func key(f nftables.TableFamily, table, name string) objKey {
	return objKey{f, table, name}
}

func load() (rulesetImpl, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, permission(err)
	}
	defer c.CloseLasting()
	rs := &linuxRuleset{chains: map[objKey]*chain{}, sets: map[objKey]*set{}}
	tables, err := c.ListTables()
	if err != nil {
		return nil, permission(err)
	}
	for _, t := range tables {
		sets, err := c.GetSets(t)
		if err != nil {
			return nil, fmt.Errorf("sets of table %s %s: %w", familyName(t.Family), t.Name, permission(err))
		}
		for _, s := range sets {
			elems, err := c.GetSetElements(s)
			if err != nil {
				return nil, fmt.Errorf("elements of set %s in table %s %s: %w", s.Name, familyName(t.Family), t.Name, permission(err))
			}
			slices.SortStableFunc(elems, func(a, b nftables.SetElement) int {
				if c := bytes.Compare(a.Key, b.Key); c != 0 {
					return c
				}
				// At one key an interval's end comes before the next
				// interval's start, so the start is what a lookup finds.
				switch {
				case a.IntervalEnd && !b.IntervalEnd:
					return -1
				case !a.IntervalEnd && b.IntervalEnd:
					return 1
				}
				return 0
			})
			x := &set{s: s, elems: elems}
			if !s.Interval {
				x.exact = make(map[string]int, len(elems))
				for i, el := range elems {
					x.exact[string(el.Key)] = i
				}
			}
			rs.sets[key(t.Family, t.Name, s.Name)] = x
		}
	}
	chains, err := c.ListChains()
	if err != nil {
		return nil, permission(err)
	}
	for _, ch := range chains {
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return nil, fmt.Errorf("rules of chain %s in table %s %s: %w", ch.Name, familyName(ch.Table.Family), ch.Table.Name, permission(err))
		}
		x := &chain{family: ch.Table.Family, table: ch.Table.Name, name: ch.Name, policy: ch.Policy, rules: rules, device: ch.Device}
		if ch.Hooknum != nil {
			x.base = true
			x.hook = uint32(*ch.Hooknum)
			if ch.Priority != nil {
				x.prio = int32(*ch.Priority)
			}
		}
		rs.chains[key(x.family, x.table, x.name)] = x
		if x.base {
			rs.bases = append(rs.bases, x)
		}
	}
	return rs, nil
}

func permission(err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w (needs CAP_NET_ADMIN): %v", os.ErrPermission, err)
	}
	return err
}

// Hook stages, in the order a packet meets them.
const (
	stageIngress = iota
	stagePrerouting
	stageInput
)

// chainsFor returns the base chains that see c's first packet, in the
// order the kernel runs them.
func (rs *linuxRuleset) chainsFor(c Conn) []*chain {
	type staged struct {
		stage int
		c     *chain
	}
	var out []staged
	fam := nftables.TableFamilyIPv4
	if c.Dst.Is6() {
		fam = nftables.TableFamilyIPv6
	}
	for _, ch := range rs.bases {
		switch {
		case ch.family == nftables.TableFamilyNetdev && ch.hook == unix.NF_NETDEV_INGRESS,
			ch.family == nftables.TableFamilyINet && ch.hook == nfInetIngress:
			if ch.device == c.IIf {
				out = append(out, staged{stageIngress, ch})
			}
		case ch.family == fam || ch.family == nftables.TableFamilyINet:
			switch ch.hook {
			case unix.NF_INET_PRE_ROUTING:
				out = append(out, staged{stagePrerouting, ch})
			case unix.NF_INET_LOCAL_IN:
				out = append(out, staged{stageInput, ch})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b staged) int {
		if a.stage != b.stage {
			return cmp.Compare(a.stage, b.stage)
		}
		return cmp.Compare(a.c.prio, b.c.prio)
	})
	chs := make([]*chain, len(out))
	for i, s := range out {
		chs[i] = s.c
	}
	return chs
}

func (rs *linuxRuleset) eval(c Conn) Result {
	var last Result
	for _, ch := range rs.chainsFor(c) {
		r := rs.runBase(ch, c)
		if r.Verdict != Accepted {
			return r
		}
		last = r
	}
	if last.Rule == (Rule{}) {
		return Result{Verdict: Accepted}
	}
	return last
}

func ruleOf(ch *chain, handle uint64) Rule {
	return Rule{Family: familyName(ch.family), Table: ch.table, Chain: ch.name, Handle: handle}
}

// runBase runs one base chain and gives its verdict.
func (rs *linuxRuleset) runBase(base *chain, c Conn) Result {
	type frame struct {
		ch *chain
		i  int
	}
	var stack []frame
	ch, i := base, 0
	pkt := newPacket(c)
	pkt.ct = ctBefore(base)
	g := new(regs)
	for {
		if i >= len(ch.rules) {
			if len(stack) == 0 {
				return policyResult(base)
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			ch, i = f.ch, f.i
			continue
		}
		rule := ch.rules[i]
		i++
		v, res := rs.runRule(ch, rule, pkt, g)
		switch v.kind {
		case vContinue:
		case vFinal:
			return res
		case vReturn:
			if len(stack) == 0 {
				return policyResult(base)
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			ch, i = f.ch, f.i
		case vJump, vGoto:
			to, ok := rs.chains[key(ch.family, ch.table, v.chain)]
			if !ok {
				return Result{Rule: ruleOf(ch, rule.Handle), Reason: fmt.Sprintf("jump to chain %q, which the ruleset does not hold", v.chain)}
			}
			if v.kind == vJump {
				if len(stack) >= maxJumps {
					return Result{Rule: ruleOf(ch, rule.Handle), Reason: "jumps nest deeper than the kernel allows (the ruleset changed while it was read?)"}
				}
				stack = append(stack, frame{ch, i})
			}
			ch, i = to, 0
		}
	}
}

func policyResult(base *chain) Result {
	r := Result{Verdict: Accepted, Rule: ruleOf(base, 0)}
	if base.policy != nil && *base.policy == nftables.ChainPolicyDrop {
		r.Verdict = Dropped
	}
	return r
}

type vkind uint8

const (
	vContinue vkind = iota // next rule (no match, or a match without verdict)
	vFinal                 // the Result is the base chain's answer
	vReturn
	vJump
	vGoto
)

type ruleVerdict struct {
	kind  vkind
	chain string
}

// Registers: the kernel's 20 32-bit words (NFT_REG32_*), word 0-3 the
// verdict. known has a bit set for every bit of data this connection
// fixes; from names what a register word was loaded from, for messages.
type regs struct {
	data  [80]byte
	known [80]byte
	from  [20]label
}

// label says what a register was loaded from, formatted only for a
// message: evaluation does not allocate for it.
type label struct {
	kind         labelKind
	key          uint32 // meta or ct key
	base, off, n uint32 // payload
	proto        ports.Proto
	v6           bool
}

type labelKind uint8

const (
	labelConst labelKind = iota
	labelMeta
	labelCt
	labelPayload
)

func (l label) String() string {
	switch l.kind {
	case labelMeta:
		if name, ok := metaNames[expr.MetaKey(l.key)]; ok {
			return "meta " + name
		}
		return fmt.Sprintf("meta key %d", l.key)
	case labelCt:
		switch expr.CtKey(l.key) {
		case expr.CtKeySTATE:
			return "ct state"
		case expr.CtKeyDIRECTION:
			return "ct direction"
		case expr.CtKeyMARK:
			return "ct mark"
		case expr.CtKeySTATUS:
			return "ct status"
		}
		return fmt.Sprintf("ct key %d", l.key)
	case labelPayload:
		return fieldName(l)
	}
	return "a constant"
}

// regOff is the byte offset of register r, as nft_parse_register maps it.
func regOff(r uint32) (int, bool) {
	switch {
	case r >= unix.NFT_REG_1 && r <= unix.NFT_REG_4:
		return int(r) * 16, true
	case r >= unix.NFT_REG32_00 && r <= unix.NFT_REG32_15:
		return 16 + int(r-unix.NFT_REG32_00)*4, true
	}
	return 0, false
}

func (g *regs) slot(r uint32, n int) (data, known []byte, ok bool) {
	off, ok := regOff(r)
	if !ok || off+n > len(g.data) || n < 0 {
		return nil, nil, false
	}
	return g.data[off : off+n], g.known[off : off+n], true
}

func (g *regs) set(r uint32, what label, data, known []byte) bool {
	d, k, ok := g.slot(r, len(data))
	if !ok {
		return false
	}
	copy(d, data)
	copy(k, known)
	g.label(r, len(data), what)
	return true
}

// label marks the n bytes of register r as loaded from what.
func (g *regs) label(r uint32, n int, what label) {
	off, _ := regOff(r)
	for w := off / 4; w < (off+n+3)/4 && w < len(g.from); w++ {
		g.from[w] = what
	}
}

func (g *regs) what(r uint32) label {
	off, ok := regOff(r)
	if !ok {
		return label{}
	}
	return g.from[off/4]
}

// packet is the synthesized first packet: its network and transport
// headers with the bits a new connection fixes marked known.
type packet struct {
	c            Conn
	ct           ctStage
	net, netK    []byte
	trans, trnsK []byte
}

var ones = [16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// allKnown is a mask of n known bytes; read only.
func allKnown(n int) []byte {
	if n <= len(ones) {
		return ones[:n:n]
	}
	return bytes.Repeat([]byte{0xff}, n)
}

func newPacket(c Conn) *packet {
	p := &packet{c: c}
	proto := byte(c.Proto)
	if c.Dst.Is4() {
		p.net, p.netK = make([]byte, 20), make([]byte, 20)
		p.net[0], p.netK[0] = 0x45, 0xff
		p.netK[6], p.netK[7] = 0x1f, 0xff // fragment offset 0: a first packet
		p.net[9], p.netK[9] = proto, 0xff
		if c.Src.IsValid() {
			s := c.Src.As4()
			copy(p.net[12:], s[:])
			copy(p.netK[12:16], allKnown(4))
		}
		d := c.Dst.As4()
		copy(p.net[16:], d[:])
		copy(p.netK[16:20], allKnown(4))
	} else {
		p.net, p.netK = make([]byte, 40), make([]byte, 40)
		p.net[0], p.netK[0] = 0x60, 0xf0
		p.net[6], p.netK[6] = proto, 0xff // no extension headers
		if c.Src.IsValid() {
			s := c.Src.As16()
			copy(p.net[8:], s[:])
			copy(p.netK[8:24], allKnown(16))
		}
		d := c.Dst.As16()
		copy(p.net[24:], d[:])
		copy(p.netK[24:40], allKnown(16))
	}
	switch c.Proto {
	case ports.ProtoTCP:
		p.trans, p.trnsK = make([]byte, 20), make([]byte, 20)
		binary.BigEndian.PutUint16(p.trans[2:], c.DstPort)
		p.trnsK[2], p.trnsK[3] = 0xff, 0xff
		// A SYN: FIN, SYN, RST, PSH, ACK and URG are fixed, ECE and CWR
		// are the client's (ECN).
		p.trans[13], p.trnsK[13] = 0x02, 0x3f
	case ports.ProtoUDP:
		p.trans, p.trnsK = make([]byte, 8), make([]byte, 8)
		binary.BigEndian.PutUint16(p.trans[2:], c.DstPort)
		p.trnsK[2], p.trnsK[3] = 0xff, 0xff
	}
	return p
}

// fieldName names a header field for messages.
func fieldName(l label) string {
	base, off, n := expr.PayloadBase(l.base), l.off, l.n
	switch base {
	case expr.PayloadBaseNetworkHeader:
		if !l.v6 {
			switch {
			case off == 12 && n <= 4:
				return "ip saddr"
			case off == 16 && n <= 4:
				return "ip daddr"
			}
			return fmt.Sprintf("ip header bytes %d-%d", off, off+n-1)
		}
		switch {
		case off >= 8 && off+n <= 24:
			return "ip6 saddr"
		case off >= 24 && off+n <= 40:
			return "ip6 daddr"
		}
		return fmt.Sprintf("ip6 header bytes %d-%d", off, off+n-1)
	case expr.PayloadBaseTransportHeader:
		l4 := strings.ToLower(l.proto.String())
		switch {
		case off == 0 && n == 2:
			return l4 + " sport"
		case off == 2 && n == 2:
			return l4 + " dport"
		}
		return fmt.Sprintf("%s header bytes %d-%d", l4, off, off+n-1)
	}
	return fmt.Sprintf("link-layer header bytes %d-%d", off, off+n-1)
}

// errBreak ends a rule without a match, as NFT_BREAK does.
var errBreak = errors.New("break")

// undetermined is a match the connection does not decide.
type undetermined struct{ why string }

func (u *undetermined) Error() string { return u.why }

// unknownExpr is an expression the evaluator does not understand.
type unknownExpr struct{ why string }

func (u *unknownExpr) Error() string { return u.why }

// runRule evaluates one rule. After a match the connection does not
// decide, the rest of the rule still runs: a later match that fails
// means the rule does not apply either way, and a rule that ends with
// no verdict and no statement (a counter) changes nothing; only a
// verdict or statement reached after it makes the rule not evaluated.
func (rs *linuxRuleset) runRule(ch *chain, rule *nftables.Rule, pkt *packet, g *regs) (ruleVerdict, Result) {
	// Registers do not carry over from one rule to the next.
	g.known = [len(g.known)]byte{}
	g.from = [len(g.from)]label{}
	var undecided *undetermined
	notEval := func(why string) (ruleVerdict, Result) {
		return ruleVerdict{kind: vFinal}, Result{Rule: ruleOf(ch, rule.Handle), Reason: why}
	}
	for _, e := range rule.Exprs {
		if undecided != nil && !harmless(e) {
			return notEval(undecided.why)
		}
		v, final, err := rs.step(ch, e, g, pkt)
		if err == nil {
			if final != nil {
				final.Rule = ruleOf(ch, rule.Handle)
				return ruleVerdict{kind: vFinal}, *final
			}
			if v.kind != vContinue {
				return v, Result{}
			}
			continue
		}
		if errors.Is(err, errBreak) {
			return ruleVerdict{}, Result{}
		}
		var u *undetermined
		if errors.As(err, &u) {
			if undecided == nil {
				undecided = u
			}
			continue
		}
		return notEval(err.Error())
	}
	return ruleVerdict{}, Result{}
}

// harmless reports whether e can neither give a verdict nor change
// anything a later rule sees: a match, a load or a counter.
func harmless(e expr.Any) bool {
	switch e := e.(type) {
	case *expr.Counter, *expr.Log, *expr.Cmp, *expr.Range, *expr.Bitwise, *expr.Byteorder:
	case *expr.Payload:
		return e.OperationType == expr.PayloadLoad
	case *expr.Meta:
		return !e.SourceRegister
	case *expr.Ct:
		return !e.SourceRegister
	case *expr.Lookup:
		return !e.IsDestRegSet
	case *expr.Immediate:
		return e.Register != 0
	default:
		return false
	}
	return true
}

// step runs one expression. final is set when the expression ends the
// base chain (drop, reject, accept).
func (rs *linuxRuleset) step(ch *chain, e expr.Any, g *regs, pkt *packet) (ruleVerdict, *Result, error) {
	switch e := e.(type) {
	case *expr.Counter, *expr.Log:
		return ruleVerdict{}, nil, nil
	case *expr.Verdict:
		return verdictOf(e.Kind, e.Chain)
	case *expr.Immediate:
		if e.Register == 0 {
			return ruleVerdict{}, nil, &unknownExpr{"immediate verdict data not understood"}
		}
		if !g.set(e.Register, label{}, e.Data, allKnown(len(e.Data))) {
			return ruleVerdict{}, nil, &unknownExpr{fmt.Sprintf("immediate to register %d not understood", e.Register)}
		}
	case *expr.Reject:
		return ruleVerdict{}, &Result{Verdict: Dropped, Reject: true}, nil
	case *expr.Target:
		if e.Name == "REJECT" {
			return ruleVerdict{}, &Result{Verdict: Dropped, Reject: true}, nil
		}
		return ruleVerdict{}, nil, &unknownExpr{fmt.Sprintf("xtables target %s not understood", e.Name)}
	case *expr.Match:
		return ruleVerdict{}, nil, xtMatch(e)
	case *expr.Meta:
		return ruleVerdict{}, nil, loadMeta(e, g, pkt)
	case *expr.Ct:
		return ruleVerdict{}, nil, loadCt(e, g, pkt.ct)
	case *expr.Payload:
		return ruleVerdict{}, nil, loadPayload(e, g, pkt)
	case *expr.Bitwise:
		return ruleVerdict{}, nil, bitwise(e, g)
	case *expr.Byteorder:
		return ruleVerdict{}, nil, byteorder(e, g)
	case *expr.Cmp:
		return ruleVerdict{}, nil, compare(e.Op, e.Register, e.Data, nil, g)
	case *expr.Range:
		return ruleVerdict{}, nil, compare(e.Op, e.Register, e.FromData, e.ToData, g)
	case *expr.Lookup:
		return rs.lookup(ch, e, g)
	default:
		return ruleVerdict{}, nil, &unknownExpr{fmt.Sprintf("%s expression not understood", exprName(e))}
	}
	return ruleVerdict{}, nil, nil
}

func verdictOf(k expr.VerdictKind, to string) (ruleVerdict, *Result, error) {
	switch k {
	case expr.VerdictAccept:
		return ruleVerdict{}, &Result{Verdict: Accepted}, nil
	case expr.VerdictDrop:
		return ruleVerdict{}, &Result{Verdict: Dropped}, nil
	case expr.VerdictContinue:
		return ruleVerdict{}, nil, nil
	case expr.VerdictBreak:
		return ruleVerdict{}, nil, errBreak
	case expr.VerdictReturn:
		return ruleVerdict{kind: vReturn}, nil, nil
	case expr.VerdictJump:
		return ruleVerdict{kind: vJump, chain: to}, nil, nil
	case expr.VerdictGoto:
		return ruleVerdict{kind: vGoto, chain: to}, nil, nil
	}
	return ruleVerdict{}, nil, &unknownExpr{fmt.Sprintf("verdict %d (queue, stolen...) not understood", k)}
}

func loadMeta(e *expr.Meta, g *regs, pkt *packet) error {
	if e.SourceRegister {
		return &unknownExpr{fmt.Sprintf("meta set (key %d) not understood", e.Key)}
	}
	c := pkt.c
	lbl := label{kind: labelMeta, key: uint32(e.Key)}
	var buf, unknown [16]byte
	var data, known []byte
	switch e.Key {
	case expr.MetaKeyIIFNAME:
		data = buf[:unix.IFNAMSIZ]
		copy(data, c.IIf)
		known = allKnown(len(data))
	case expr.MetaKeyIIF:
		data, known = buf[:4], unknown[:4]
		if c.IIfIdx > 0 {
			binary.NativeEndian.PutUint32(data, uint32(c.IIfIdx))
			known = allKnown(4)
		}
	case expr.MetaKeyOIFNAME, expr.MetaKeyOIF, expr.MetaKeyOIFTYPE, expr.MetaKeyOIFGROUP:
		// No output device on input: the kernel breaks the rule.
		return errBreak
	case expr.MetaKeyL4PROTO:
		buf[0] = byte(c.Proto)
		data, known = buf[:1], allKnown(1)
	case expr.MetaKeyNFPROTO:
		buf[0] = unix.NFPROTO_IPV4
		if c.Dst.Is6() {
			buf[0] = unix.NFPROTO_IPV6
		}
		data, known = buf[:1], allKnown(1)
	case expr.MetaKeyPROTOCOL:
		binary.BigEndian.PutUint16(buf[:], unix.ETH_P_IP)
		if c.Dst.Is6() {
			binary.BigEndian.PutUint16(buf[:], unix.ETH_P_IPV6)
		}
		data, known = buf[:2], allKnown(2)
	case expr.MetaKeyPKTTYPE:
		buf[0] = unix.PACKET_HOST
		data, known = buf[:1], allKnown(1)
	default:
		// The rest (mark, skuid, length, cpu...) a connection from
		// outside does not fix: all bits unknown.
		data, known = buf[:], unknown[:]
	}
	if !g.set(e.Register, lbl, data, known) {
		return &unknownExpr{fmt.Sprintf("%s to register %d not understood", lbl, e.Register)}
	}
	return nil
}

var metaNames = map[expr.MetaKey]string{
	expr.MetaKeyIIFNAME: "iifname", expr.MetaKeyIIF: "iif", expr.MetaKeyL4PROTO: "l4proto",
	expr.MetaKeyNFPROTO: "nfproto", expr.MetaKeyPROTOCOL: "protocol", expr.MetaKeyPKTTYPE: "pkttype",
	expr.MetaKeyMARK: "mark", expr.MetaKeyLEN: "length", expr.MetaKeyPRIORITY: "priority",
	expr.MetaKeySKUID: "skuid", expr.MetaKeySKGID: "skgid", expr.MetaKeyIIFTYPE: "iiftype",
	expr.MetaKeyIIFGROUP: "iifgroup", expr.MetaKeyCPU: "cpu", expr.MetaKeyCGROUP: "cgroup",
	expr.MetaKeyPRANDOM: "random", expr.MetaKeyNFTRACE: "nftrace", expr.MetaKeyRTCLASSID: "rtclassid",
	expr.MetaKeySECMARK: "secmark", expr.MetaKeyBRIIIFNAME: "ibrname", expr.MetaKeyBRIOIFNAME: "obrname",
}

// ctStage is what conntrack has done when a base chain runs.
type ctStage uint8

const (
	ctTracked ctStage = iota // after conntrack (priority -200): the connection is new
	ctNone                   // before it (ingress, raw): no conntrack entry yet
	ctUnsure                 // at conntrack's own priority: the order is not defined
)

// nfIPPriConntrack is NF_IP_PRI_CONNTRACK (and NF_IP6_PRI_CONNTRACK).
const nfIPPriConntrack = -200

func ctBefore(base *chain) ctStage {
	switch {
	case base.hook == unix.NF_INET_PRE_ROUTING && base.family != nftables.TableFamilyNetdev && base.device == "":
		switch {
		case base.prio < nfIPPriConntrack:
			return ctNone
		case base.prio == nfIPPriConntrack:
			return ctUnsure
		}
		return ctTracked
	case base.hook == unix.NF_INET_LOCAL_IN && base.family != nftables.TableFamilyNetdev:
		return ctTracked
	}
	return ctNone // ingress
}

func loadCt(e *expr.Ct, g *regs, stage ctStage) error {
	if e.SourceRegister {
		return &unknownExpr{fmt.Sprintf("ct set (key %d) not understood", e.Key)}
	}
	if stage == ctUnsure {
		return &unknownExpr{"ct expression in a chain at conntrack's own priority (-200), which may run before or after it, not understood"}
	}
	if stage == ctNone && e.Key != expr.CtKeySTATE {
		// No conntrack entry: the kernel breaks the rule (nft_ct_get_eval).
		return errBreak
	}
	lbl := label{kind: labelCt, key: uint32(e.Key)}
	var buf, unknown [16]byte
	var data, known []byte
	switch e.Key {
	case expr.CtKeySTATE:
		// Before conntrack the packet has no entry, which ct state
		// reads as invalid.
		bit := expr.CtStateBitNEW
		if stage == ctNone {
			bit = expr.CtStateBitINVALID
		}
		binary.NativeEndian.PutUint32(buf[:], bit)
		data, known = buf[:4], allKnown(4)
	case expr.CtKeyDIRECTION:
		data, known = buf[:1], allKnown(1) // 0: IP_CT_DIR_ORIGINAL
	default:
		data, known = buf[:], unknown[:]
	}
	if !g.set(e.Register, lbl, data, known) {
		return &unknownExpr{fmt.Sprintf("%s to register %d not understood", lbl, e.Register)}
	}
	return nil
}

func loadPayload(e *expr.Payload, g *regs, pkt *packet) error {
	if e.OperationType != expr.PayloadLoad {
		return &unknownExpr{"payload write (mangling) not understood"}
	}
	lbl := label{kind: labelPayload, base: uint32(e.Base), off: e.Offset, n: e.Len, proto: pkt.c.Proto, v6: pkt.c.Dst.Is6()}
	n, off := int(e.Len), int(e.Offset)
	d, k, ok := g.slot(e.DestRegister, n)
	if !ok {
		return &unknownExpr{fmt.Sprintf("payload load of %d bytes to register %d not understood", n, e.DestRegister)}
	}
	var hdr, hdrK []byte
	switch e.Base {
	case expr.PayloadBaseNetworkHeader:
		hdr, hdrK = pkt.net, pkt.netK
	case expr.PayloadBaseTransportHeader:
		hdr, hdrK = pkt.trans, pkt.trnsK
	}
	for i := 0; i < n; i++ {
		d[i], k[i] = 0, 0
		if off+i < len(hdr) {
			d[i], k[i] = hdr[off+i], hdrK[off+i]
		}
	}
	g.label(e.DestRegister, n, lbl)
	return nil
}

func bitwise(e *expr.Bitwise, g *regs) error {
	n := int(e.Len)
	src, srcK, ok := g.slot(e.SourceRegister, n)
	if !ok || len(e.Mask) < n || len(e.Xor) < n || n > 64 {
		return &unknownExpr{"bitwise expression not understood (shift or malformed)"}
	}
	var data, known [64]byte
	for i := 0; i < n; i++ {
		data[i] = src[i]&e.Mask[i] ^ e.Xor[i]
		known[i] = srcK[i] | ^e.Mask[i] // masked-out bits become the xor's
	}
	if !g.set(e.DestRegister, g.what(e.SourceRegister), data[:n], known[:n]) {
		return &unknownExpr{"bitwise to a bad register"}
	}
	return nil
}

func byteorder(e *expr.Byteorder, g *regs) error {
	n, size := int(e.Len), int(e.Size)
	src, srcK, ok := g.slot(e.SourceRegister, n)
	if !ok || (size != 2 && size != 4 && size != 8) || n%size != 0 || n > 64 {
		return &unknownExpr{"byteorder expression not understood"}
	}
	var data, known [64]byte
	copy(data[:], src)
	copy(known[:], srcK)
	// On a little-endian host hton and ntoh both reverse each word; on
	// a big-endian one both are the identity.
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		for i := 0; i < n; i += size {
			slices.Reverse(data[i : i+size])
			slices.Reverse(known[i : i+size])
		}
	}
	if !g.set(e.DestRegister, g.what(e.SourceRegister), data[:n], known[:n]) {
		return &unknownExpr{"byteorder to a bad register"}
	}
	return nil
}

// compare is cmp (to == nil) and range. Data are compared as the kernel
// does, with memcmp.
func compare(op expr.CmpOp, r uint32, from, to []byte, g *regs) error {
	n := len(from)
	d, k, ok := g.slot(r, n)
	if !ok || (to != nil && len(to) != n) {
		return &unknownExpr{"comparison with a bad register"}
	}
	if !allSet(k) {
		// With unknown bits an equality may still be decided by the
		// known ones.
		if to == nil && (op == expr.CmpOpEq || op == expr.CmpOpNeq) && knownDiffer(d, k, from) {
			if op == expr.CmpOpEq {
				return errBreak
			}
			return nil
		}
		return &undetermined{fmt.Sprintf("matches on %s, which a new connection from outside does not fix", g.what(r))}
	}
	var match bool
	if to != nil {
		in := bytes.Compare(d, from) >= 0 && bytes.Compare(d, to) <= 0
		switch op {
		case expr.CmpOpEq:
			match = in
		case expr.CmpOpNeq:
			match = !in
		default:
			return &unknownExpr{fmt.Sprintf("range operator %d not understood", op)}
		}
	} else {
		c := bytes.Compare(d, from)
		switch op {
		case expr.CmpOpEq:
			match = c == 0
		case expr.CmpOpNeq:
			match = c != 0
		case expr.CmpOpLt:
			match = c < 0
		case expr.CmpOpLte:
			match = c <= 0
		case expr.CmpOpGt:
			match = c > 0
		case expr.CmpOpGte:
			match = c >= 0
		default:
			return &unknownExpr{fmt.Sprintf("cmp operator %d not understood", op)}
		}
	}
	if !match {
		return errBreak
	}
	return nil
}

func allSet(k []byte) bool {
	for _, b := range k {
		if b != 0xff {
			return false
		}
	}
	return true
}

func knownDiffer(d, k, want []byte) bool {
	for i := range want {
		if (d[i]^want[i])&k[i] != 0 {
			return true
		}
	}
	return false
}

func (rs *linuxRuleset) lookup(ch *chain, e *expr.Lookup, g *regs) (ruleVerdict, *Result, error) {
	s, ok := rs.sets[key(ch.family, ch.table, e.SetName)]
	if !ok {
		return ruleVerdict{}, nil, &unknownExpr{fmt.Sprintf("lookup in set %q, which the ruleset does not hold", e.SetName)}
	}
	if s.s.Concatenation {
		return ruleVerdict{}, nil, &unknownExpr{fmt.Sprintf("lookup in set %s of concatenations not understood", s.s.Name)}
	}
	// google/nftables v0.3.0 puts a verdict map's data type in KeyType.
	isVmap := s.s.IsMap && (s.s.DataType.Name == nftables.TypeVerdict.Name || s.s.KeyType.Name == nftables.TypeVerdict.Name)
	if e.IsDestRegSet && !isVmap {
		return ruleVerdict{}, nil, &unknownExpr{fmt.Sprintf("lookup in data map %s not understood", s.s.Name)}
	}
	if s.s.Interval && s.s.KeyByteOrder == binaryutil.NativeEndian {
		return ruleVerdict{}, nil, &unknownExpr{fmt.Sprintf("interval set %s of host-order keys not understood", s.s.Name)}
	}
	klen := setKeyLen(s)
	if klen == 0 {
		// An empty set matches nothing.
		if e.Invert {
			return ruleVerdict{}, nil, nil
		}
		return ruleVerdict{}, nil, errBreak
	}
	d, k, ok := g.slot(e.SourceRegister, klen)
	if !ok {
		return ruleVerdict{}, nil, &unknownExpr{"lookup from a bad register"}
	}
	if !allSet(k) {
		return ruleVerdict{}, nil, &undetermined{fmt.Sprintf("looks %s up in set %s, which a new connection from outside does not fix", g.what(e.SourceRegister), s.s.Name)}
	}
	el := s.find(d)
	if e.Invert {
		if el != nil {
			return ruleVerdict{}, nil, errBreak
		}
		return ruleVerdict{}, nil, nil
	}
	if el == nil {
		return ruleVerdict{}, nil, errBreak
	}
	if e.IsDestRegSet {
		code, chain, ok := decodeVerdict(el.Val)
		if !ok {
			return ruleVerdict{}, nil, &unknownExpr{fmt.Sprintf("verdict of an element of map %s not understood", s.s.Name)}
		}
		return verdictOf(code, chain)
	}
	return ruleVerdict{}, nil, nil
}

func setKeyLen(s *set) int {
	for _, el := range s.elems {
		if len(el.Key) > 0 {
			return len(el.Key)
		}
	}
	return 0
}

// find returns the element matching key, or nil.
func (s *set) find(key []byte) *nftables.SetElement {
	if !s.s.Interval {
		if i, ok := s.exact[string(key)]; ok {
			return &s.elems[i]
		}
		return nil
	}
	// The last element at or below key: a start means key is inside
	// its interval, an end means it fell in a gap.
	i, found := slices.BinarySearchFunc(s.elems, key, func(el nftables.SetElement, k []byte) int {
		return bytes.Compare(el.Key, k)
	})
	if found {
		for i+1 < len(s.elems) && bytes.Equal(s.elems[i+1].Key, key) {
			i++
		}
	} else {
		i--
	}
	if i < 0 || s.elems[i].IntervalEnd {
		return nil
	}
	return &s.elems[i]
}

// decodeVerdict reads a vmap element's data: nested attributes
// NFTA_VERDICT_CODE (big-endian) and NFTA_VERDICT_CHAIN.
func decodeVerdict(b []byte) (expr.VerdictKind, string, bool) {
	var code expr.VerdictKind
	var chain string
	have := false
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		t := binary.NativeEndian.Uint16(b[2:]) &^ unix.NLA_F_NESTED
		if l < 4 || l > len(b) {
			return 0, "", false
		}
		v := b[4:l]
		switch t {
		case unix.NFTA_VERDICT_CODE:
			if len(v) != 4 {
				return 0, "", false
			}
			code, have = expr.VerdictKind(int32(binary.BigEndian.Uint32(v))), true
		case unix.NFTA_VERDICT_CHAIN:
			chain = strings.TrimRight(string(v), "\x00")
		}
		l = (l + 3) &^ 3
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return code, chain, have
}

// nfInetIngress is NF_INET_INGRESS (linux/netfilter.h), which x/sys
// lacks: an inet table's ingress hook, bound to one device.
const nfInetIngress = 5

// xtMatch evaluates the xtables matches iptables-nft leaves in its
// rules that a new connection decides: conntrack and state on the
// connection state alone.
func xtMatch(e *expr.Match) error {
	var flags, invert xt.ConntrackFlags
	var states uint16
	switch i := e.Info.(type) {
	case *xt.ConntrackMtinfo1:
		flags, invert, states = xt.ConntrackFlags(i.MatchFlags), xt.ConntrackFlags(i.InvertFlags), uint16(i.StateMask)
	case *xt.ConntrackMtinfo2:
		flags, invert, states = xt.ConntrackFlags(i.MatchFlags), xt.ConntrackFlags(i.InvertFlags), i.StateMask
	case *xt.ConntrackMtinfo3:
		flags, invert, states = xt.ConntrackFlags(i.MatchFlags), xt.ConntrackFlags(i.InvertFlags), i.StateMask
	case *xt.Unknown:
		// xt_state_info: a native-order u32 state mask, no invert.
		if e.Name == "state" && len(*i) == 4 {
			if binary.NativeEndian.Uint32(*i)&expr.CtStateBitNEW == 0 {
				return errBreak
			}
			return nil
		}
		return &unknownExpr{fmt.Sprintf("xtables match %s not understood", e.Name)}
	default:
		return &unknownExpr{fmt.Sprintf("xtables match %s not understood", e.Name)}
	}
	if flags&^(xt.ConntrackState|xt.ConntrackStateAlias) != 0 || flags&xt.ConntrackState == 0 {
		return &unknownExpr{"xtables match conntrack on more than --ctstate not understood"}
	}
	match := uint32(states)&expr.CtStateBitNEW != 0
	if invert&xt.ConntrackState != 0 {
		match = !match
	}
	if !match {
		return errBreak
	}
	return nil
}
