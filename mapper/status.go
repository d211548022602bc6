package mapper

import (
	"errors"
	"fmt"
	"slices"
	"sort"
)

// RuleStatus is what a running rule is doing, for a status view.
type RuleStatus struct {
	Name    string
	Type    Type
	Listen  []string // addresses listened on
	Active  int64    // connections (UDP sessions) open
	Dests   []DestStatus
	Up      int64 // bytes client → upstream since the rule started
	Down    int64 // bytes upstream → client
	Refused int64 // clients turned away, every reason
}

// DestStatus is one destination of a mapping.
type DestStatus struct {
	Route   string // the route's sni or host ("sni a.test"), "default", or "" for To
	Addr    string
	Weight  int
	Up      bool // in rotation by health (a check or failed dials)
	Drained bool // taken out by Drain: no new connections
	Active  int  // connections to it now
}

// Status returns the running rules, sorted by name.
func (s *Server) Status() []RuleStatus {
	s.mu.Lock()
	rts := make([]*running, 0, len(s.rules))
	for _, rt := range s.rules {
		rts = append(rts, rt)
	}
	s.mu.Unlock()
	sort.Slice(rts, func(i, j int) bool { return rts[i].rule.Name < rts[j].rule.Name })
	out := make([]RuleStatus, 0, len(rts))
	for _, rt := range rts {
		st := RuleStatus{Name: rt.rule.Name, Type: rt.rule.Type, Listen: rt.addrStrings(), Active: rt.active.Load(),
			Up: rt.upBytes.Load(), Down: rt.downBytes.Load(), Refused: rt.refused.Load()}
		for _, set := range rt.labelledSets() {
			st.Dests = set.d.appendStatus(st.Dests, set.label)
		}
		out = append(out, st)
	}
	return out
}

type labelledSet struct {
	label string
	d     *dests
}

// labelledSets names each destination set of the rule.
func (rt *running) labelledSets() []labelledSet {
	var out []labelledSet
	if rt.dests != nil {
		out = append(out, labelledSet{"", rt.dests})
	}
	if rt.routes != nil {
		for _, r := range rt.routes.sni {
			out = append(out, labelledSet{"sni " + r.name, r.dests})
		}
		for _, r := range rt.routes.host {
			out = append(out, labelledSet{"host " + r.name, r.dests})
		}
		if rt.routes.def != nil {
			out = append(out, labelledSet{"default", rt.routes.def})
		}
	}
	return out
}

func (d *dests) appendStatus(out []DestStatus, route string) []DestStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, a := range d.addrs {
		s := &d.st[i]
		out = append(out, DestStatus{Route: route, Addr: a, Weight: d.weight[i], Up: !s.down, Drained: s.drained, Active: s.active})
	}
	return out
}

// ErrNoSuchRule and ErrNoSuchDest are the failures of Drain.
var (
	ErrNoSuchRule = errors.New("no such rule")
	ErrNoSuchDest = errors.New("no such destination")
)

// Drain takes destination dest (its HOST:PORT, in every route that has
// it) of the running rule out of rotation (drain true) or puts it back:
// a drained destination gets no new connections, while those open go
// on, and is not changed by a reload that keeps the rule. It returns
// how many destinations it changed.
func (s *Server) Drain(rule, dest string, drain bool) (int, error) {
	s.mu.Lock()
	rt := s.rules[rule]
	s.mu.Unlock()
	if rt == nil {
		return 0, fmt.Errorf("%w %q", ErrNoSuchRule, rule)
	}
	n := 0
	for _, set := range rt.labelledSets() {
		n += set.d.drain(dest, drain)
	}
	if n == 0 {
		var have []string
		for _, set := range rt.labelledSets() {
			for _, a := range set.d.addrs {
				if !slices.Contains(have, a) {
					have = append(have, a)
				}
			}
		}
		return 0, fmt.Errorf("rule %q: %w %q (it has %v)", rule, ErrNoSuchDest, dest, have)
	}
	state := "drained"
	if !drain {
		state = "back in rotation"
	}
	rt.log.Info("destination "+state, "dest", dest, "by", "control socket")
	return n, nil
}

func (d *dests) drain(addr string, on bool) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for i, a := range d.addrs {
		if a == addr {
			d.st[i].drained = on
			n++
		}
	}
	return n
}

// transferred counts bytes for Status and the Observer.
func (rt *running) transferred(up, down int64) {
	if up != 0 {
		rt.upBytes.Add(up)
	}
	if down != 0 {
		rt.downBytes.Add(down)
	}
	rt.s.obs.Transferred(rt.rule.Name, up, down)
}
