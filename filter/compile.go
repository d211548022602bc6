package filter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
	"golang.org/x/net/bpf"
)

// DefaultSnaplen is what a compiled program returns for a packet it
// accepts when Compile is given a snaplen of 0 or less: libpcap's
// maximum snapshot length, so that the kernel keeps the whole packet.
const DefaultSnaplen = 262144

// MaxInstructions is the longest program Compile returns: the kernel's
// limit (BPF_MAXINSNS on Linux and the BSDs).
const MaxInstructions = 4096

// ErrUnsupportedLinkType is wrapped by the error for a link type the
// compiler has no layout for.
var ErrUnsupportedLinkType = errors.New("filter: unsupported link type")

// ErrProgramTooLong is wrapped by the error for a filter whose program
// would exceed MaxInstructions.
var ErrProgramTooLong = errors.New("filter: program too long")

// Compile parses expr and compiles it to a classic BPF program for
// packets that begin with a link header of type link. The program
// returns snaplen (DefaultSnaplen if snaplen <= 0) for a packet that
// matches and 0 for one that does not, or that ends before a field the
// filter reads (as a kernel or libpcap filter does). An empty expr
// compiles to a program that accepts everything.
//
// Errors are a *SyntaxError from Parse, or wrap ErrUnsupportedLinkType or
// ErrProgramTooLong.
func Compile(expr string, link pcapfile.LinkType, snaplen int) ([]bpf.Instruction, error) {
	e, err := Parse(expr)
	if err != nil {
		return nil, err
	}
	return e.Compile(link, snaplen)
}

// Assemble compiles expr like Compile and assembles the program into the
// raw form that the kernel takes (SO_ATTACH_FILTER on Linux, BIOCSETF
// on the BSDs).
func Assemble(expr string, link pcapfile.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
	prog, err := Compile(expr, link, snaplen)
	if err != nil {
		return nil, err
	}
	return bpf.Assemble(prog)
}

// Compile compiles e like the package-level Compile. A nil e accepts
// every packet.
//
// On a NULL link the address family is taken in the host's byte order,
// as libpcap does; see [Expr.MatcherOrder] for files.
func (e *Expr) Compile(link pcapfile.LinkType, snaplen int) ([]bpf.Instruction, error) {
	return e.compile(link, nil, snaplen, true)
}

// compile compiles e; kernel asks for a program the kernel can run,
// which differs only for protochain (see chain).
func (e *Expr) compile(link pcapfile.LinkType, order binary.ByteOrder, snaplen int, kernel bool) ([]bpf.Instruction, error) {
	ll, err := linkFor(link)
	if err != nil {
		return nil, err
	}
	if order != nil && link == pcapfile.LinkTypeNull {
		ll.order = order
	}
	var root *node
	if snaplen <= 0 || snaplen > 1<<31-1 {
		snaplen = DefaultSnaplen
	}
	root = tru
	ll.noOpt = e.hasProtochain()
	if e != nil {
		if root, err = lowerExpr(e, &ll); err != nil {
			return nil, err
		}
	}
	d := newDag()
	// libpcap does not optimize a program with protochain's loop: then
	// every test runs, even one whose outcome changes nothing.
	d.keepAll = ll.noOpt
	top := d.thread(d.build(root, d.acc, d.rej))
	g := codegen{kernel: kernel}
	accept, reject := g.newLabel(), g.newLabel()
	if err := d.emit(&g, top, accept, reject); err != nil {
		return nil, err
	}
	g.place(accept)
	g.emit(pinsn{kind: pRet, val: uint32(snaplen)})
	g.place(reject)
	g.emit(pinsn{kind: pRet, val: 0})
	g.optimize()
	prog := g.assemble()
	if len(prog) > MaxInstructions {
		return nil, fmt.Errorf("%w: %d instructions, the limit is %d", ErrProgramTooLong, len(prog), MaxInstructions)
	}
	return prog, nil
}

// The compiler lowers an Expr to a tree of tests on packet bytes (nodes),
// folding what the link type decides, then generates jumping code for
// the tree, removes loads of what the accumulator already holds, and
// lays the code out, with a long jump wherever a conditional jump would
// reach further than 255 instructions.
//
// Evaluation is left to right with short circuits, and a read past the
// end of the packet rejects it, as in the kernel: the order of tests is
// part of what a filter means for a truncated packet, and the tests
// (and the evaluator they check against) keep it.

type nodeOp uint8

const (
	nTrue nodeOp = iota
	nFalse
	nAnd
	nOr
	nNot
	nTest
	nIf
)

type node struct {
	op   nodeOp
	kids []*node // nAnd, nOr: two or more; nNot: one; nIf: condition, then, else
	t    test    // nTest
}

// load is what a test puts in the accumulator: the big-endian number of
// size bytes at off (at X+off when ind, X holding the IPv4 header
// length of the header at xoff), and-ed with mask when hasMask.
type load struct {
	size    uint8 // 1, 2 or 4
	ind     bool
	off     uint32
	xoff    uint32
	hasMask bool
	mask    uint32
}

// test compares a load with val, or, when lhs is set, a computed value
// with val or with the computed rhs.
type test struct {
	ld   load
	cond bpf.JumpTest // JumpEqual, JumpGreaterThan, JumpGreaterOrEqual or JumpBitsSet
	val  uint32
	lhs  *value
	rhs  *value
	rel  bool // from a relation: see relTest
	// opaque is a comparison of constants that libpcap keeps (see
	// lowerRelation): it always goes to taken's side, and is never
	// dropped or merged.
	opaque bool
	taken  bool
}

var (
	tru = &node{op: nTrue}
	fls = &node{op: nFalse}
)

// and returns the conjunction of ns, folding constants. Dropping the
// tests in front of a false changes nothing: they could only reject.
func and(ns ...*node) *node {
	var kids []*node
	for _, n := range ns {
		switch n.op {
		case nTrue:
		case nFalse:
			return fls
		case nAnd:
			kids = append(kids, n.kids...)
		default:
			kids = append(kids, n)
		}
	}
	switch len(kids) {
	case 0:
		return tru
	case 1:
		return kids[0]
	}
	return &node{op: nAnd, kids: kids}
}

// or returns the disjunction of ns, folding constants. A true after a
// test is kept (the test still runs, and a short packet still fails
// it); nothing after a true can run.
func or(ns ...*node) *node {
	var kids []*node
	for _, n := range ns {
		switch n.op {
		case nFalse:
			continue
		case nTrue:
			if len(kids) == 0 {
				return tru
			}
			kids = append(kids, tru)
		case nOr:
			kids = append(kids, n.kids...)
		default:
			kids = append(kids, n)
		}
		if kids[len(kids)-1].op == nTrue {
			break
		}
	}
	switch len(kids) {
	case 0:
		return fls
	case 1:
		return kids[0]
	}
	return &node{op: nOr, kids: kids}
}

func not(n *node) *node {
	switch n.op {
	case nTrue:
		return fls
	case nFalse:
		return tru
	case nNot:
		return n.kids[0]
	}
	return &node{op: nNot, kids: []*node{n}}
}

func cmpNode(size uint8, off uint32, cond bpf.JumpTest, val uint32) *node {
	return &node{op: nTest, t: test{ld: load{size: size, off: off}, cond: cond, val: val}}
}

func eq(size uint8, off, val uint32) *node { return cmpNode(size, off, bpf.JumpEqual, val) }

func maskEq(size uint8, off, mask, val uint32) *node {
	return &node{op: nTest, t: test{ld: load{size: size, off: off, hasMask: true, mask: mask}, cond: bpf.JumpEqual, val: val}}
}

// Field offsets, from the start of the network header.
const (
	ip4Proto   = 9
	ip4Frag    = 6
	ip4Src     = 12
	ip4Dst     = 16
	ip6Next    = 6
	ip6Src     = 8
	ip6Dst     = 24
	ip6HdrLen  = 40
	arpSPA     = 14 // sender protocol address, for Ethernet and IPv4
	arpTPA     = 24 // target protocol address
	etherIPv4  = 0x0800
	etherIPv6  = 0x86dd
	etherARP   = 0x0806
	etherRARP  = 0x8035
	ipprotoFrg = 44 // IPv6 Fragment header
)

// Link-layer protocol numbers: EtherTypes, and the 802.2 LLC SAPs that
// libpcap takes in their place (all at most 1500, the largest 802.3
// length, so never an EtherType).
const (
	etherMOPDL    = 0x6001
	etherMOPRC    = 0x6002
	etherDECnet   = 0x6003
	etherLAT      = 0x6004
	etherSCA      = 0x6007
	etherATalk    = 0x809b
	etherAARP     = 0x80f3
	etherIPX      = 0x8137
	etherMPLS     = 0x8847
	etherPPPoED   = 0x8863
	etherPPPoES   = 0x8864
	etherLoopback = 0x9000
	etherMTU      = 1500
	llcIP         = 0x06
	llcSTP        = 0x42
	llcIPX        = 0xe0
	llcNetBEUI    = 0xf0
	llcISO        = 0xfe
	llcSNAP       = 0xaa
	sllP8023      = 1 // Linux's ETH_P_802_3: Novell 802.3 frames, in the SLL protocol field
	sllP8022      = 4 // ETH_P_802_2: 802.2 LLC frames
	pppMPLS       = 0x0281
	pppoeHdrLen   = 6
	sllOutgoing   = 4 // the SLL packet type of a packet the host sent (PACKET_OUTGOING)
)

// pppType maps an EtherType to the PPP protocol number for the same
// protocol, as libpcap does for the PPP header inside a PPPoE session;
// others stay as they are.
func pppType(t uint32) uint32 {
	switch t {
	case etherIPv4:
		return 0x21
	case etherIPv6:
		return 0x57
	case etherDECnet:
		return 0x27
	case etherATalk:
		return 0x29
	case 0x0600: // Xerox NS
		return 0x25
	case llcISO:
		return 0x23
	case llcSTP:
		return 0x31
	case llcIPX:
		return 0x2b
	}
	return t
}

// IP protocol numbers.
const (
	ipprotoICMP  = 1
	ipprotoTCP   = 6
	ipprotoUDP   = 17
	ipprotoICMP6 = 58
	ipprotoSCTP  = 132
)

// linkLayer is how to test for each network protocol on a link type,
// and where the network header starts. A vlan primitive moves the
// EtherType and the network header 4 bytes on for every primitive after
// it in the filter's text, as in libpcap.
//
// mpls and pppoes move things on too, as in libpcap: each mpls moves the
// network header (only) 4 bytes on, after which the network protocol is
// told by the IP version nibble; pppoes makes the link PPP from there
// on, its header (protocol field) right after the PPPoE header.
type linkLayer struct {
	link    pcapfile.LinkType
	typeOff uint32 // the EtherType's offset, on links that have one
	hasType bool
	nlBase  uint32
	shift   uint32 // 4 for each vlan seen
	// mplsOff is 4 for each mpls seen, mpls the number of labels.
	mplsOff uint32
	mpls    int
	// ppp is set after a pppoes: typeOff is then the PPP protocol
	// field's offset, linkOff where the PPP header starts (ether[0]).
	ppp     bool
	linkOff uint32
	// err is what made a primitive impossible here (an ARP test after
	// mpls), for lowerPrim to return.
	err error
	// order is the byte order of a NULL link's address family.
	order binary.ByteOrder
	// noOpt is set for a filter libpcap does not optimize (protochain).
	noOpt bool
}

// fail records err for lowerPrim, unless an error came first, and
// returns a node that stands in for the test.
func (ll *linkLayer) fail(format string, args ...any) *node {
	if ll.err == nil {
		ll.err = fmt.Errorf("filter: "+format, args...)
	}
	return fls
}

// linkName is the link type as tcpdump's errors name it.
func (ll *linkLayer) linkName() string {
	if ll.ppp {
		return "PPP"
	}
	return ll.link.String()
}

// llcOff is the offset of the byte after the EtherType, where an 802.2
// LLC header starts.
func (ll *linkLayer) llcOff() uint32 { return ll.typeOff + ll.shift + 2 }

// afINET6 lists the address families libpcap takes for IPv6 on
// loopback links: BSD/NetBSD/OpenBSD, FreeBSD and Darwin. (Linux's 10
// is not one of them.)
var afINET6 = [...]uint32{24, 28, 30}

func linkFor(l pcapfile.LinkType) (linkLayer, error) {
	switch l {
	case pcapfile.LinkTypeEthernet:
		return linkLayer{link: l, typeOff: 12, hasType: true, nlBase: 14}, nil
	case pcapfile.LinkTypeLinuxSLL:
		return linkLayer{link: l, typeOff: 14, hasType: true, nlBase: 16}, nil
	case pcapfile.LinkTypeLinuxSLL2:
		return linkLayer{link: l, typeOff: 0, hasType: true, nlBase: 20}, nil
	case pcapfile.LinkTypeNull:
		return linkLayer{link: l, nlBase: 4, order: binary.NativeEndian}, nil
	case pcapfile.LinkTypeLoop:
		return linkLayer{link: l, nlBase: 4, order: binary.BigEndian}, nil
	case pcapfile.LinkTypeRaw, pcapfile.LinkTypeIPv4, pcapfile.LinkTypeIPv6:
		return linkLayer{link: l}, nil
	}
	return linkLayer{}, fmt.Errorf("%w %v", ErrUnsupportedLinkType, l)
}

// nl is the offset of the network header.
func (ll *linkLayer) nl() uint32 { return ll.nlBase + ll.shift + ll.mplsOff }

// family tests a loopback address family, a 32-bit word in ll.order.
func (ll *linkLayer) family(v uint32) *node {
	var b [4]byte
	ll.order.PutUint32(b[:], v)
	return eq(4, 0, binary.BigEndian.Uint32(b[:]))
}

// etherType tests the link's protocol field for t (an EtherType, or an
// LLC SAP up to 1500), as libpcap's gen_linktype ("ether proto") does
// on each link: on Ethernet and Linux SLL a SAP means an 802.2 frame
// with that SAP, and IPX, AppleTalk and AARP also match their 802.2 and
// SNAP encapsulations; after pppoes the PPP protocol number for t; after
// mpls only IPv4 and IPv6, by the version nibble.
func (ll *linkLayer) etherType(t uint32) *node {
	if ll.mpls > 0 {
		switch t {
		case etherIPv4:
			return ll.mplsIP(0x40)
		case etherIPv6:
			return ll.mplsIP(0x60)
		}
		return ll.fail("unsupported protocol over mpls")
	}
	if ll.ppp {
		return eq(2, ll.typeOff, pppType(t))
	}
	if !ll.hasType {
		switch t {
		case etherIPv4:
			return ll.ipv4()
		case etherIPv6:
			return ll.ipv6()
		}
		return fls
	}
	typ := ll.typeOff + ll.shift
	llc := ll.llcOff()
	// snap tests for an LLC SNAP header with OUI org and type et, as
	// libpcap's gen_snap: the last four bytes, then the first four.
	snap := func(org, et uint32) *node {
		return and(eq(4, llc+4, org<<16|et), eq(4, llc, llcSNAP<<24|llcSNAP<<16|0x03<<8|org>>16))
	}
	switch ll.link {
	case pcapfile.LinkTypeEthernet:
		is8023 := not(cmpNode(2, typ, bpf.JumpGreaterThan, etherMTU))
		switch t {
		case llcISO, llcIP, llcNetBEUI:
			return and(is8023, eq(2, llc, t<<8|t))
		case llcIPX:
			// Ethernet II, or 802.3 with SNAP, an IPX SAP or Novell's
			// raw 0xffff.
			return or(eq(2, typ, etherIPX),
				and(is8023, or(snap(0, etherIPX), eq(1, llc, llcIPX), eq(2, llc, 0xffff))))
		case etherATalk:
			return or(eq(2, typ, t), and(is8023, snap(0x080007, t)))
		case etherAARP:
			return or(eq(2, typ, t), and(is8023, snap(0, t)))
		}
		if t <= etherMTU {
			return and(is8023, eq(1, llc, t))
		}
		return eq(2, typ, t)
	case pcapfile.LinkTypeLinuxSLL:
		is8022 := eq(2, typ, sllP8022)
		switch t {
		case llcISO, llcIP, llcNetBEUI:
			return and(is8022, eq(2, llc, t<<8|t))
		case llcIPX:
			return or(eq(2, typ, etherIPX), eq(2, typ, sllP8023),
				and(is8022, or(eq(1, llc, llcIPX), snap(0, etherIPX))))
		case etherATalk:
			return or(eq(2, typ, t), and(is8022, snap(0x080007, t)))
		case etherAARP:
			return or(eq(2, typ, t), and(is8022, snap(0, t)))
		}
		if t <= etherMTU {
			return and(is8022, eq(1, llc, t))
		}
	}
	return eq(2, typ, t)
}

// mplsIP tests for IPv4 (version 0x40) or IPv6 (0x60) after an MPLS
// label, as libpcap: the label is the bottom of the stack and the
// version nibble matches.
func (ll *linkLayer) mplsIP(version uint32) *node {
	nl := ll.nl()
	return and(maskEq(1, nl-2, 1, 1), maskEq(1, nl, 0xf0, version))
}

func (ll *linkLayer) ipv4() *node {
	if ll.mpls > 0 || ll.ppp {
		return ll.etherType(etherIPv4)
	}
	switch ll.link {
	case pcapfile.LinkTypeNull, pcapfile.LinkTypeLoop:
		return ll.family(2)
	case pcapfile.LinkTypeRaw:
		return maskEq(1, 0, 0xf0, 0x40)
	case pcapfile.LinkTypeIPv4:
		return tru
	case pcapfile.LinkTypeIPv6:
		return fls
	}
	return eq(2, ll.typeOff+ll.shift, etherIPv4)
}

func (ll *linkLayer) ipv6() *node {
	if ll.mpls > 0 || ll.ppp {
		return ll.etherType(etherIPv6)
	}
	switch ll.link {
	case pcapfile.LinkTypeNull, pcapfile.LinkTypeLoop:
		v6 := fls
		for _, f := range []uint32{30, 24, 28} {
			v6 = or(v6, ll.family(f))
		}
		return v6
	case pcapfile.LinkTypeRaw:
		return maskEq(1, 0, 0xf0, 0x60)
	case pcapfile.LinkTypeIPv4:
		return fls
	case pcapfile.LinkTypeIPv6:
		return tru
	}
	return eq(2, ll.typeOff+ll.shift, etherIPv6)
}

func (ll *linkLayer) arp() *node {
	if !ll.hasType {
		return fls
	}
	return ll.etherType(etherARP)
}

func (ll *linkLayer) rarp() *node {
	if !ll.hasType {
		return fls
	}
	return ll.etherType(etherRARP)
}

func lowerExpr(e *Expr, ll *linkLayer) (*node, error) {
	if e == nil {
		return nil, errors.New("filter: nil operand in expression")
	}
	switch e.Op {
	case OpPrim:
		return lowerPrim(e.Prim, ll)
	case OpNot:
		x, err := lowerExpr(e.X, ll)
		if err != nil {
			return nil, err
		}
		return not(x), nil
	case OpOr:
		return lowerOr(e, ll)
	case OpAnd:
		x, err := lowerExpr(e.X, ll)
		if err != nil {
			return nil, err
		}
		y, err := lowerExpr(e.Y, ll)
		if err != nil {
			return nil, err
		}
		return and(x, y), nil
	}
	return nil, fmt.Errorf("filter: unknown operator %v", e.Op)
}

// lowerOr lowers a chain of "or" operands. Consecutive port primitives
// with the same protocol and a single direction ("tcp dst port 7000 or
// tcp dst portrange 8000-8010 or ...") become one test of the port
// against the union of their ranges, which portTest compiles to a
// search: a list of a thousand ports then takes a program of about two
// instructions a port, not twenty. The result is the same for every
// packet, truncated ones included: each of those primitives reads the
// same fields in the same order, up to the one port they compare.
// ("src or dst" primitives are not merged: one whose source port
// matches stops before reading the destination port.)
func lowerOr(e *Expr, ll *linkLayer) (*node, error) {
	var ops []*Expr
	var flatten func(*Expr)
	flatten = func(e *Expr) {
		if e != nil && e.Op == OpOr {
			flatten(e.X)
			flatten(e.Y)
			return
		}
		ops = append(ops, e)
	}
	flatten(e)
	n := fls
	for i := 0; i < len(ops); {
		j := i + 1
		if mergeablePort(ops[i]) {
			for j < len(ops) && mergeablePort(ops[j]) && ops[j].Prim.Proto == ops[i].Prim.Proto && ops[j].Prim.Dir == ops[i].Prim.Dir {
				j++
			}
		}
		var x *node
		var err error
		if j-i == 1 {
			x, err = lowerExpr(ops[i], ll)
		} else {
			rs := make([]ports.Range, 0, j-i)
			for _, op := range ops[i:j] {
				rs = append(rs, op.Prim.Ports)
			}
			p := ops[i].Prim
			x = portTest(ll, portProtos(p.Proto), rs, p.Dir)
		}
		if err != nil {
			return nil, err
		}
		n = or(n, x)
		i = j
	}
	return n, nil
}

// mergeablePort reports whether e is a valid port or portrange primitive
// with numbers, a transport protocol or none, and one direction.
func mergeablePort(e *Expr) bool {
	if e == nil || e.Op != OpPrim {
		return false
	}
	p := e.Prim
	switch {
	case p.Kind != KindPort && p.Kind != KindPortRange, p.Service != "",
		p.Dir != DirSrc && p.Dir != DirDst,
		p.Ports.First > p.Ports.Last, p.Kind == KindPort && p.Ports.First != p.Ports.Last:
		return false
	}
	return portProtos(p.Proto) != nil
}

// portProtos returns the IP protocols a port primitive with qualifier p
// looks at, or nil if p cannot qualify a port.
func portProtos(p Proto) []uint32 {
	switch p {
	case ProtoNone:
		return []uint32{ipprotoTCP, ipprotoUDP, ipprotoSCTP}
	case ProtoTCP, ProtoUDP, ProtoSCTP:
		return []uint32{protoNumber(p)}
	}
	return nil
}

func protoNumber(p Proto) uint32 {
	switch p {
	case ProtoTCP:
		return ipprotoTCP
	case ProtoUDP:
		return ipprotoUDP
	case ProtoSCTP:
		return ipprotoSCTP
	case ProtoICMP:
		return ipprotoICMP
	case ProtoICMP6:
		return ipprotoICMP6
	case ProtoIGMP:
		return 2
	case ProtoIGRP:
		return 9
	case ProtoESP:
		return 50
	case ProtoAH:
		return 51
	case ProtoPIM:
		return 103
	case ProtoVRRP, ProtoCARP:
		return 112
	}
	return 0
}

// lowerPrim lowers one primitive, or returns the error that a test on
// the link (as the primitives before it left it) recorded.
func lowerPrim(p Primitive, ll *linkLayer) (*node, error) {
	n, err := lowerPrim1(p, ll)
	if err == nil && ll.err != nil {
		err = ll.err
	}
	return n, err
}

func lowerPrim1(p Primitive, ll *linkLayer) (*node, error) {
	nl := ll.nl()
	switch p.Kind {
	case KindProto:
		switch p.Proto {
		case ProtoIP:
			return ll.ipv4(), nil
		case ProtoIP6:
			return ll.ipv6(), nil
		case ProtoARP:
			return ll.arp(), nil
		case ProtoRARP:
			return ll.rarp(), nil
		case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoPIM, ProtoAH, ProtoESP:
			n := protoNumber(p.Proto)
			return or(and(ll.ipv4(), eq(1, nl+ip4Proto, n)), and(ll.ipv6(), ip6Proto(nl, n))), nil
		case ProtoICMP, ProtoIGMP, ProtoIGRP, ProtoVRRP, ProtoCARP:
			// IPv4 only, as in libpcap.
			return and(ll.ipv4(), eq(1, nl+ip4Proto, protoNumber(p.Proto))), nil
		case ProtoICMP6:
			return and(ll.ipv6(), ip6Proto(nl, ipprotoICMP6)), nil
		}
	case KindRel:
		return lowerRelation(p.Rel, ll)
	case KindProtochain:
		walk := func(v6 bool) *node {
			v := &value{kind: vChain, chain: &chain{v6: v6, nl: nl, proto: p.Num}}
			return &node{op: nTest, t: test{lhs: v, cond: bpf.JumpEqual, val: p.Num}}
		}
		v4 := func() *node { return and(ll.ipv4(), walk(false)) }
		v6 := func() *node { return and(ll.ipv6(), walk(true)) }
		switch p.Proto {
		case ProtoIP:
			return v4(), nil
		case ProtoIP6:
			return v6(), nil
		case ProtoNone:
			return or(v4(), v6()), nil
		}
		return nil, fmt.Errorf("filter: bad protocol applied for 'protochain'")
	case KindIPProto:
		v4 := func() *node { return and(ll.ipv4(), eq(1, nl+ip4Proto, p.Num)) }
		v6 := func() *node { return and(ll.ipv6(), ip6Proto(nl, p.Num)) }
		switch p.Proto {
		case ProtoIP:
			return v4(), nil
		case ProtoIP6:
			return v6(), nil
		}
		return or(v4(), v6()), nil
	case KindEtherHost, KindEtherProto, KindBroadcast, KindMulticast, KindVLAN,
		KindMPLS, KindPPPoED, KindPPPoES, KindLLC, KindInbound, KindOutbound:
		return lowerLink(p, ll)
	case KindHost, KindNet:
		if !p.Net.IsValid() {
			return nil, fmt.Errorf("filter: %v without an address", p.Kind)
		}
		if p.Net.Addr().Is4() {
			var ip4, arp, rarp *node = fls, fls, fls
			if p.Proto == ProtoNone || p.Proto == ProtoIP {
				ip4 = and(ll.ipv4(), dirAddr(p.Dir, nl+ip4Src, nl+ip4Dst, p, ll.noOpt))
			}
			// As libpcap: after mpls, a host without a protocol is IPv4 only.
			if p.Proto == ProtoNone && ll.mpls == 0 || p.Proto == ProtoARP {
				arp = and(ll.arp(), dirAddr(p.Dir, nl+arpSPA, nl+arpTPA, p, ll.noOpt))
			}
			if p.Proto == ProtoNone && ll.mpls == 0 || p.Proto == ProtoRARP {
				rarp = and(ll.rarp(), dirAddr(p.Dir, nl+arpSPA, nl+arpTPA, p, ll.noOpt))
			}
			switch p.Proto {
			case ProtoNone, ProtoIP, ProtoARP, ProtoRARP:
				return or(ip4, arp, rarp), nil
			}
		} else if p.Proto == ProtoNone || p.Proto == ProtoIP6 {
			return and(ll.ipv6(), dirAddr(p.Dir, nl+ip6Src, nl+ip6Dst, p, ll.noOpt)), nil
		}
		return nil, fmt.Errorf("filter: '%v' modifier applied to %v %v", p.Proto, p.Kind, p.Net)
	case KindPort, KindPortRange:
		protos := portProtos(p.Proto)
		if protos == nil {
			return nil, fmt.Errorf("filter: illegal qualifier '%v' of '%v'", p.Proto, p.Kind)
		}
		if p.Kind == KindPort && p.Service != "" {
			sp, msg := resolveService(p.Service, p.Proto)
			if msg != "" {
				return nil, fmt.Errorf("filter: %s: %w", msg, ports.ErrUnknownService)
			}
			if slices.Equal(sp.tcp, sp.udp) && slices.Equal(sp.tcp, sp.sctp) {
				// libpcap's "any protocol" port: one test, as for a number.
				return portTest(ll, portProtos(ProtoNone), sp.tcp, p.Dir), nil
			}
			n := fls
			for _, x := range []struct {
				proto uint32
				rs    []ports.Range
			}{{ipprotoSCTP, sp.sctp}, {ipprotoTCP, sp.tcp}, {ipprotoUDP, sp.udp}} {
				if len(x.rs) > 0 {
					n = or(n, portTest(ll, []uint32{x.proto}, x.rs, p.Dir))
				}
			}
			return n, nil
		}
		if p.Kind == KindPortRange && p.Service != "" {
			r, real, msg := resolvePortRange(p.Service, p.Proto)
			if msg != "" {
				return nil, fmt.Errorf("filter: %s: %w", msg, ports.ErrUnknownService)
			}
			return portTest(ll, portProtos(real), []ports.Range{r}, p.Dir), nil
		}
		r := p.Ports
		if r.First > r.Last {
			return nil, fmt.Errorf("filter: port range %d-%d runs backwards", r.First, r.Last)
		}
		if p.Kind == KindPort && r.First != r.Last {
			return nil, fmt.Errorf("filter: port with the range %d-%d", r.First, r.Last)
		}
		return portTest(ll, protos, []ports.Range{r}, p.Dir), nil
	}
	return nil, fmt.Errorf("filter: invalid primitive %v", p)
}

// ip6Proto tests the IPv6 next header for proto, as tcpdump's "tcp" and
// "icmp6" do: the one after the fixed header, or the one after a
// Fragment header there.
func ip6Proto(nl, proto uint32) *node {
	return or(eq(1, nl+ip6Next, proto), and(eq(1, nl+ip6Next, ipprotoFrg), eq(1, nl+ip6HdrLen, proto)))
}

// dirAddr tests the source address at src, the destination address at
// dst, or both, against p.Net, as p.Dir says.
func dirAddr(d Dir, src, dst uint32, p Primitive, all bool) *node {
	s := func() *node { return addrTest(src, p, all) }
	t := func() *node { return addrTest(dst, p, all) }
	switch d {
	case DirSrc:
		return s()
	case DirDst:
		return t()
	case DirSrcAndDst:
		return and(s(), t())
	}
	return or(s(), t())
}

// addrTest tests the address at off against the prefix p.Net, a word at
// a time, skipping the words wholly outside the prefix unless all is set
// (libpcap's unoptimized program reads them, masked with 0).
func addrTest(off uint32, p Primitive, all bool) *node {
	a := p.Net.Addr().AsSlice()
	if p.Mask != 0 && len(a) == 4 {
		mv := p.Mask
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		return maskEq(4, off, mv, v&mv)
	}
	n := tru
	for w := 0; w < len(a)/4; w++ {
		nbits := p.Net.Bits() - 32*w
		if nbits <= 0 && !all {
			break
		}
		v := uint32(a[4*w])<<24 | uint32(a[4*w+1])<<16 | uint32(a[4*w+2])<<8 | uint32(a[4*w+3])
		o := off + uint32(4*w)
		if nbits >= 32 {
			n = and(n, eq(4, o, v))
		} else {
			m := uint32(0)
			if nbits > 0 {
				m = ^uint32(0) << (32 - nbits)
			}
			n = and(n, maskEq(4, o, m, v&m))
		}
	}
	return n
}

// portTest tests for a transport protocol in protos with a source or
// destination port (as d says) in one of rs. Over IPv4 it skips all but
// the first fragment and finds the transport header from the IHL; over
// IPv6 it looks only right after the fixed header, as tcpdump does.
func portTest(ll *linkLayer, protos []uint32, rs []ports.Range, d Dir) *node {
	nl := ll.nl()
	if len(rs) > searchMin {
		rs = coalesce(rs)
	}
	inRanges := func(ld load) *node {
		if len(rs) > searchMin {
			return portSearch(ld, rs, false)
		}
		n := fls
		for _, r := range rs {
			n = or(n, portIn(ld, r))
		}
		return n
	}
	dir := func(src, dst load) *node {
		switch d {
		case DirSrc:
			return inRanges(src)
		case DirDst:
			return inRanges(dst)
		case DirSrcAndDst:
			return and(inRanges(src), inRanges(dst))
		}
		return or(inRanges(src), inRanges(dst))
	}
	// As libpcap: IPv6 first, then IPv4, and in each a test for each
	// protocol (SCTP, TCP, UDP), each with its own fragment and port
	// tests. The order decides which fields the optimized program still
	// reads, and so the verdicts on short packets.
	notFragment := not(cmpNode(2, nl+ip4Frag, bpf.JumpBitsSet, 0x1fff))
	v4, v6 := fls, fls
	for _, p := range []uint32{ipprotoSCTP, ipprotoTCP, ipprotoUDP} {
		if !slices.Contains(protos, p) {
			continue
		}
		v4 = or(v4, and(eq(1, nl+ip4Proto, p), notFragment,
			dir(load{size: 2, ind: true, off: nl, xoff: nl}, load{size: 2, ind: true, off: nl + 2, xoff: nl})))
		v6 = or(v6, and(eq(1, nl+ip6Next, p),
			dir(load{size: 2, off: nl + ip6HdrLen}, load{size: 2, off: nl + ip6HdrLen + 2})))
	}
	return or(and(ll.ipv6(), v6), and(ll.ipv4(), v4))
}

// portIn tests the port loaded by ld against r.
func portIn(ld load, r ports.Range) *node {
	if r.First == r.Last {
		return &node{op: nTest, t: test{ld: ld, cond: bpf.JumpEqual, val: uint32(r.First)}}
	}
	ge := &node{op: nTest, t: test{ld: ld, cond: bpf.JumpGreaterOrEqual, val: uint32(r.First)}}
	gt := &node{op: nTest, t: test{ld: ld, cond: bpf.JumpGreaterThan, val: uint32(r.Last)}}
	return and(ge, not(gt))
}

// searchMin is the most port ranges that portTest compares one after
// the other; more are searched (see portSearch).
const searchMin = 4

// coalesce returns rs sorted, with overlapping and adjacent ranges
// joined.
func coalesce(rs []ports.Range) []ports.Range {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b ports.Range) int { return int(a.First) - int(b.First) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if int(r.First) <= int(last.Last)+1 {
			last.Last = max(last.Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// portSearch tests the port loaded by ld against rs, sorted and
// disjoint, by binary search: one comparison per level, and at the end
// one or two for the range found, so the program is about two
// instructions per range and a packet runs through about log2 of them.
// geFirst says the port is known to be at least rs[0].First. Only the
// port is read, so the order of the comparisons changes no result. (The
// leaves' jumps to accept and reject, far from most of them, share long
// jumps: see assemble.)
func portSearch(ld load, rs []ports.Range, geFirst bool) *node {
	if len(rs) == 1 {
		r := rs[0]
		if !geFirst {
			return portIn(ld, r)
		}
		return not(&node{op: nTest, t: test{ld: ld, cond: bpf.JumpGreaterThan, val: uint32(r.Last)}})
	}
	m := len(rs) / 2
	cond := &node{op: nTest, t: test{ld: ld, cond: bpf.JumpGreaterOrEqual, val: uint32(rs[m].First)}}
	return &node{op: nIf, kids: []*node{cond, portSearch(ld, rs[m:], true), portSearch(ld, rs[:m], geFirst)}}
}

// Code generation.

type label int32

type pkind uint8

const (
	pLabel pkind = iota // marks label lbl
	pLoad               // A = ld
	pLoadX              // X = 4*([xoff]&0xf)
	pJump               // if A cond val goto jt else goto jf
	pJa                 // goto jt
	pRet                // return val
	pCalc               // the instructions calc, which leave A and X unknown
	pJumpX              // if A cond X goto jt else goto jf
)

// pinsn is an instruction with symbolic jump targets.
type pinsn struct {
	kind   pkind
	ld     load
	xoff   uint32
	cond   bpf.JumpTest
	val    uint32
	jt, jf label
	lbl    label
	calc   []bpf.Instruction
}

type codegen struct {
	code   []pinsn
	labels label
	// kernel asks for a program the kernel runs (see calc.kernel).
	kernel bool
}

func (g *codegen) newLabel() label { g.labels++; return g.labels }
func (g *codegen) emit(p pinsn)    { g.code = append(g.code, p) }
func (g *codegen) place(l label)   { g.emit(pinsn{kind: pLabel, lbl: l}) }

// genTest emits the code of one test: the loads, the computation if
// any, and the jump to t if it holds and to f if not.
func (g *codegen) genTest(tt *test, t, f label) error {
	if tt.opaque {
		to := f
		if tt.taken {
			to = t
		}
		g.emit(pinsn{kind: pJa, jt: to})
		return nil
	}
	if tt.lhs == nil {
		if tt.ld.ind {
			g.emit(pinsn{kind: pLoadX, xoff: tt.ld.xoff})
		}
		g.emit(pinsn{kind: pLoad, ld: tt.ld})
		g.emit(pinsn{kind: pJump, cond: tt.cond, val: tt.val, jt: t, jf: f})
		return nil
	}
	c := calc{kernel: g.kernel}
	if tt.rhs == nil {
		if err := c.value(tt.lhs, 0); err != nil {
			return err
		}
		g.emit(pinsn{kind: pCalc, calc: c.prog})
		g.emit(pinsn{kind: pJump, cond: tt.cond, val: tt.val, jt: t, jf: f})
		return nil
	}
	if err := c.value(tt.rhs, 0); err != nil {
		return err
	}
	c.add(bpf.StoreScratch{Src: bpf.RegA, N: 0})
	if err := c.value(tt.lhs, 1); err != nil {
		return err
	}
	c.add(bpf.LoadScratch{Dst: bpf.RegX, N: 0})
	g.emit(pinsn{kind: pCalc, calc: c.prog})
	g.emit(pinsn{kind: pJumpX, cond: tt.cond, jt: t, jf: f})
	return nil
}

// regs is what is known of the registers at a point of the program.
type regs struct {
	aOK bool
	a   load
	xOK bool
	x   uint32
}

func meet(p, q regs) regs {
	r := regs{}
	if p.aOK && q.aOK && p.a == q.a {
		r.aOK, r.a = true, p.a
	}
	if p.xOK && q.xOK && p.x == q.x {
		r.xOK, r.x = true, p.x
	}
	return r
}

// optimize drops unreachable code, loads of what a register already
// holds on every path, and jumps to the next instruction. It relies on
// every jump going forward.
func (g *codegen) optimize() {
	for changed := true; changed; {
		changed = false
		in := make(map[label]regs)
		cur, live := regs{}, true
		record := func(l label, r regs) {
			if old, ok := in[l]; ok {
				r = meet(old, r)
			}
			in[l] = r
		}
		out := g.code[:0:0]
		for i, p := range g.code {
			if p.kind == pLabel {
				if r, ok := in[p.lbl]; ok {
					if live {
						cur = meet(cur, r)
					} else {
						cur, live = r, true
					}
				}
				if live {
					out = append(out, p)
				}
				continue
			}
			if !live {
				changed = true
				continue
			}
			switch p.kind {
			case pLoad:
				if cur.aOK && cur.a == p.ld {
					changed = true
					continue
				}
				cur.aOK, cur.a = true, p.ld
			case pLoadX:
				if cur.xOK && cur.x == p.xoff {
					changed = true
					continue
				}
				cur.xOK, cur.x = true, p.xoff
			case pCalc:
				cur = regs{}
			case pJump, pJumpX:
				record(p.jt, cur)
				record(p.jf, cur)
				live = false
			case pJa:
				if g.labelFollows(i, p.jt) {
					changed = true
					continue // falls through to the same place
				}
				record(p.jt, cur)
				live = false
			case pRet:
				live = false
			}
			out = append(out, p)
		}
		g.code = out
	}
}

// labelFollows reports whether label l is placed right after
// instruction i, with nothing but labels between.
func (g *codegen) labelFollows(i int, l label) bool {
	for _, p := range g.code[i+1:] {
		if p.kind != pLabel {
			return false
		}
		if p.lbl == l {
			return true
		}
	}
	return false
}

// size returns the number of BPF instructions p becomes.
func (p *pinsn) size() int {
	switch p.kind {
	case pLabel:
		return 0
	case pCalc:
		return len(p.calc)
	case pLoad:
		if p.ld.hasMask {
			return 2
		}
	}
	return 1
}

// assemble lays the code out and resolves the labels. A conditional jump
// reaches at most 255 instructions; one that must go further jumps to a
// long jump (a trampoline) instead. Far jumps to one target share a
// trampoline, placed after the end of a block (a jump, after which
// control never falls through) before the first of them is out of reach:
// a port search over hundreds of ranges, whose leaves all go to accept
// or reject, then costs one long jump per target and stretch of code,
// not two per leaf.
func (g *codegen) assemble() []bpf.Instruction {
	// The longest stretch between two block ends, so that a trampoline
	// placed at one block end is known to be reachable at the next.
	block, maxBlock := 0, 0
	for i := range g.code {
		block += g.code[i].size()
		if g.code[i].endsBlock() {
			maxBlock, block = max(maxBlock, block), 0
		}
	}
	for {
		at := make(map[label]int)
		n := 0
		for i := range g.code {
			if g.code[i].kind == pLabel {
				at[g.code[i].lbl] = n
			}
			n += g.code[i].size()
		}
		far := func(pc int, l label) bool { return at[l]-pc-1 > 255 }
		anyFar := false
		pc := 0
		for i := range g.code {
			p := &g.code[i]
			if (p.kind == pJump || p.kind == pJumpX) && (far(pc, p.jt) || far(pc, p.jf)) {
				anyFar = true
				break
			}
			pc += p.size()
		}
		if !anyFar {
			return g.emitBPF(at)
		}
		code := make([]pinsn, 0, len(g.code)+16)
		tramp := map[label]label{} // target -> trampoline not yet placed
		var order []label
		first := -1 // pc of the first jump that uses a pending trampoline
		pc = 0
		for _, p := range g.code {
			if p.kind == pJump || p.kind == pJumpX {
				for _, l := range []*label{&p.jt, &p.jf} {
					if !far(pc, *l) {
						continue
					}
					t, ok := tramp[*l]
					if !ok {
						t = g.newLabel()
						tramp[*l] = t
						order = append(order, *l)
					}
					*l = t
					if first < 0 {
						first = pc
					}
				}
			}
			code = append(code, p)
			pc += p.size()
			// Place the pending trampolines now if the next block might
			// put the first of them out of reach.
			if first >= 0 && p.endsBlock() && pc+maxBlock+len(order)-first-1 > 255-8 {
				for _, l := range order {
					code = append(code, pinsn{kind: pLabel, lbl: tramp[l]}, pinsn{kind: pJa, jt: l})
				}
				clear(tramp)
				order, first = order[:0], -1
			}
		}
		if len(order) > 0 {
			for _, l := range order {
				code = append(code, pinsn{kind: pLabel, lbl: tramp[l]}, pinsn{kind: pJa, jt: l})
			}
		}
		g.code = code
	}
}

// endsBlock reports whether control never falls through p to the next
// instruction.
func (p *pinsn) endsBlock() bool {
	switch p.kind {
	case pJump, pJumpX, pJa, pRet:
		return true
	}
	return false
}

func (g *codegen) emitBPF(at map[label]int) []bpf.Instruction {
	var prog []bpf.Instruction
	for _, p := range g.code {
		pc := len(prog)
		switch p.kind {
		case pLoad:
			if p.ld.ind {
				prog = append(prog, bpf.LoadIndirect{Off: p.ld.off, Size: int(p.ld.size)})
			} else {
				prog = append(prog, bpf.LoadAbsolute{Off: p.ld.off, Size: int(p.ld.size)})
			}
			if p.ld.hasMask {
				prog = append(prog, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: p.ld.mask})
			}
		case pLoadX:
			prog = append(prog, bpf.LoadMemShift{Off: p.xoff})
		case pJump:
			prog = append(prog, bpf.JumpIf{Cond: p.cond, Val: p.val,
				SkipTrue: uint8(at[p.jt] - pc - 1), SkipFalse: uint8(at[p.jf] - pc - 1)})
		case pCalc:
			prog = append(prog, p.calc...)
		case pJumpX:
			prog = append(prog, bpf.JumpIfX{Cond: p.cond,
				SkipTrue: uint8(at[p.jt] - pc - 1), SkipFalse: uint8(at[p.jf] - pc - 1)})
		case pJa:
			prog = append(prog, bpf.Jump{Skip: uint32(at[p.jt] - pc - 1)})
		case pRet:
			prog = append(prog, bpf.RetConstant{Val: p.val})
		}
	}
	return prog
}
