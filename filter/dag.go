package filter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// The lowered tree becomes a decision graph before code is generated:
// each graph node is one test with a successor for true and one for
// false, and the leaves accept or reject. The graph is reduced the way
// libpcap's optimizer reduces its flow graph, because on a packet too
// short for a field the verdict depends on which loads the final
// program still does: a test whose two successors are the same is
// dropped (with its load), equal nodes are merged, and an edge into a
// test whose outcome the tests on every path to that edge already
// decide (the same test, or an equality with another constant after
// an equality held) is moved past it, as libpcap's jump threading
// (opt_j, fold_edge) does. So "ip or not ip" becomes "accept" and reads
// nothing, as in tcpdump.

type dnode struct {
	leaf     int8 // 1 accept, 0 reject, -1 a test
	t        *test
	key      string // the test's identity: same key, same value and comparison
	hi, lo   *dnode
	id       int
	lhs, rhs int // interned lhsKey and rhsKey
}

type dkey struct {
	key    string
	hi, lo int
}

type dag struct {
	acc, rej *dnode
	nodes    map[dkey]*dnode
	n        int
	intern   map[string]int
	// merge is set for the last pass: as libpcap, threading runs on the
	// graph as built, and equal nodes are merged only at the end
	// (merging first would lose what the paths into a node know).
	merge bool
	// keepAll keeps a test whose two successors are the same: as
	// libpcap's unoptimized programs do, it still reads its field.
	keepAll bool
}

func (d *dag) id(s string) int {
	if n, ok := d.intern[s]; ok {
		return n
	}
	d.intern[s] = len(d.intern)
	return len(d.intern) - 1
}

func newDag() *dag {
	d := &dag{nodes: make(map[dkey]*dnode), intern: make(map[string]int)}
	d.acc = &dnode{leaf: 1, id: 1}
	d.rej = &dnode{leaf: 0, id: 2}
	d.n = 2
	return d
}

// mk returns the node for test t (identity key) with successors hi and
// lo, merging it with an equal node and dropping it if both successors
// are the same.
func (d *dag) mk(t *test, key string, hi, lo *dnode) *dnode {
	if t.opaque {
		d.n++
		return &dnode{leaf: -1, t: t, key: key, hi: hi, lo: lo, id: d.n, lhs: -1 - d.n, rhs: -1}
	}
	if hi == lo && !d.keepAll {
		return hi
	}
	k := dkey{key, hi.id, lo.id}
	if d.merge {
		if n, ok := d.nodes[k]; ok {
			return n
		}
	}
	d.n++
	n := &dnode{leaf: -1, t: t, key: key, hi: hi, lo: lo, id: d.n, lhs: d.id(t.lhsKey()), rhs: d.id(t.rhsKey())}
	if d.merge {
		d.nodes[k] = n
	}
	return n
}

// build returns the graph of n going to t when n holds and to f if not.
func (d *dag) build(n *node, t, f *dnode) *dnode {
	switch n.op {
	case nTrue:
		return t
	case nFalse:
		return f
	case nNot:
		return d.build(n.kids[0], f, t)
	case nAnd:
		cur := t
		for i := len(n.kids) - 1; i >= 0; i-- {
			cur = d.build(n.kids[i], cur, f)
		}
		return cur
	case nOr:
		cur := f
		for i := len(n.kids) - 1; i >= 0; i-- {
			cur = d.build(n.kids[i], t, cur)
		}
		return cur
	case nIf:
		then, els := d.build(n.kids[1], t, f), d.build(n.kids[2], t, f)
		return d.build(n.kids[0], then, els)
	}
	if n.t.opaque {
		// One node per occurrence, going where it is taken, kept even
		// though its two successors are the same.
		to := f
		if n.t.taken {
			to = t
		}
		d.n++
		return &dnode{leaf: -1, t: &n.t, key: fmt.Sprintf("opaque %d", d.n), hi: to, lo: to, id: d.n, lhs: -1 - d.n, rhs: -1}
	}
	return d.mk(&n.t, n.t.key(), t, f)
}

// fact is an edge out of a test node: the test had outcome sense.
type fact struct {
	src   *dnode
	sense bool
}

// foldEdge returns where child goes when fact f holds on the way to it,
// or nil if f does not decide child's test. As libpcap's fold_edge: the
// same value compared the same way with the same operand gives the
// same outcome; an equality that held decides any other equality of
// the same value with a constant as false.
func foldEdge(child *dnode, f fact) *dnode {
	a, b := child.t, f.src.t
	if a.cond != b.cond || child.lhs != f.src.lhs {
		return nil
	}
	if child.rhs == f.src.rhs {
		if f.sense {
			return child.hi
		}
		return child.lo
	}
	if f.sense && a.cond == bpf.JumpEqual && a.rhsConst() && b.rhsConst() {
		return child.lo
	}
	return nil
}

// topo returns the nodes reachable from root, each after every node
// with an edge into it.
func topo(root *dnode) []*dnode {
	var post []*dnode
	seen := map[*dnode]bool{}
	var visit func(n *dnode)
	visit = func(n *dnode) {
		if seen[n] {
			return
		}
		seen[n] = true
		if n.leaf < 0 {
			visit(n.lo)
			visit(n.hi)
		}
		post = append(post, n)
	}
	visit(root)
	for i, j := 0, len(post)-1; i < j; i, j = i+1, j-1 {
		post[i], post[j] = post[j], post[i]
	}
	return post
}

// thread moves edges past tests that the facts on every path to the
// edge decide, rebuilding the graph until nothing changes.
func (d *dag) thread(root *dnode) *dnode {
	for round := 0; round < 64; round++ {
		order := topo(root)
		in := map[*dnode][]fact{}
		seen := map[*dnode]bool{root: true}
		changed := false
		target := map[*dnode][2]*dnode{}
		for _, n := range order {
			if n.leaf >= 0 {
				continue
			}
			facts := in[n]
			var out [2]*dnode
			for i, sense := range []bool{false, true} {
				succ := n.lo
				if sense {
					succ = n.hi
				}
				ef := withFact(facts, fact{n, sense})
			again:
				for succ.leaf < 0 {
					for _, f := range ef {
						if to := foldEdge(succ, f); to != nil {
							succ, changed = to, true
							continue again
						}
					}
					break
				}
				out[i] = succ
				if !seen[succ] {
					seen[succ] = true
					in[succ] = ef
				} else {
					in[succ] = intersect(in[succ], ef)
				}
			}
			target[n] = out
		}
		if !changed {
			return d.rebuild(root)
		}
		// Rebuild bottom-up with the new edges, reducing.
		memo := map[*dnode]*dnode{d.acc: d.acc, d.rej: d.rej}
		var rebuild func(n *dnode) *dnode
		rebuild = func(n *dnode) *dnode {
			if m, ok := memo[n]; ok {
				return m
			}
			out := target[n]
			m := d.mk(n.t, n.key, rebuild(out[1]), rebuild(out[0]))
			memo[n] = m
			return m
		}
		root = rebuild(root)
	}
	return d.rebuild(root)
}

// rebuild merges equal nodes, bottom-up, dropping those whose two
// successors become the same.
func (d *dag) rebuild(root *dnode) *dnode {
	d.merge = true
	memo := map[*dnode]*dnode{d.acc: d.acc, d.rej: d.rej}
	var rb func(n *dnode) *dnode
	rb = func(n *dnode) *dnode {
		if m, ok := memo[n]; ok {
			return m
		}
		m := d.mk(n.t, n.key, rb(n.hi), rb(n.lo))
		memo[n] = m
		return m
	}
	return rb(root)
}

// Fact lists are sorted by node id and sense, so that intersecting two
// is a merge.
func factLess(a, b fact) bool {
	return a.src.id < b.src.id || a.src.id == b.src.id && !a.sense && b.sense
}

func withFact(facts []fact, f fact) []fact {
	out := make([]fact, 0, len(facts)+1)
	i := 0
	for i < len(facts) && factLess(facts[i], f) {
		i++
	}
	out = append(out, facts[:i]...)
	out = append(out, f)
	return append(out, facts[i:]...)
}

func intersect(a, b []fact) []fact {
	var out []fact
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			out = append(out, a[i])
			i++
			j++
		case factLess(a[i], b[j]):
			i++
		default:
			j++
		}
	}
	return out
}

// emit generates code for the graph: every node after all the nodes
// that jump to it, so that every jump goes forward.
func (d *dag) emit(g *codegen, root *dnode, accept, reject label) error {
	labels := map[*dnode]label{d.acc: accept, d.rej: reject}
	order := topo(root)
	for _, n := range order {
		if n.leaf < 0 {
			labels[n] = g.newLabel()
		}
	}
	for _, n := range order {
		if n.leaf >= 0 {
			continue
		}
		g.place(labels[n])
		if err := g.genTest(n.t, labels[n.hi], labels[n.lo]); err != nil {
			return err
		}
	}
	if root.leaf >= 0 {
		g.emit(pinsn{kind: pJa, jt: labels[root]})
	}
	return nil
}

func (t *test) key() string {
	return t.lhsKey() + fmt.Sprintf(" %d ", t.cond) + t.rhsKey()
}

func (t *test) lhsKey() string {
	k := t.ld.String()
	if t.lhs != nil {
		k = t.lhs.String()
	}
	if t.rel {
		return "rel " + k
	}
	return k
}

func (t *test) rhsKey() string {
	if t.rhs != nil {
		return t.rhs.String()
	}
	return fmt.Sprintf("#%d", t.val)
}

func (t *test) rhsConst() bool { return t.rhs == nil }

func (l load) String() string {
	s := fmt.Sprintf("[%d:%d]", l.off, l.size)
	if l.ind {
		s = fmt.Sprintf("[x%d+%d:%d]", l.xoff, l.off, l.size)
	}
	if l.hasMask {
		s += fmt.Sprintf("&%d", l.mask)
	}
	return s
}
