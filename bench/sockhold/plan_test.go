package main

import (
	"math"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestConnsPerProc(t *testing.T) {
	tests := []struct {
		nofile uint64
		want   int
	}{
		{20000, 8000},           // this kind of machine: 16,000 fds
		{1024, (1024 - 64) / 2}, // a default soft limit
		{65, 0},
		{0, 0},
		{math.MaxUint64, 8000}, // RLIM_INFINITY
	}
	for _, tt := range tests {
		if got := connsPerProc(tt.nofile); got != tt.want {
			t.Errorf("connsPerProc(%d) = %d, want %d", tt.nofile, got, tt.want)
		}
	}
}

func TestConnsPerListener(t *testing.T) {
	tests := []struct {
		lo, hi, want int
	}{
		{32768, 60999, 10000}, // Linux default
		{49152, 65535, 8192},  // IANA
		{1000, 1000, 1},
		{2000, 1000, 1},
	}
	for _, tt := range tests {
		if got := connsPerListener(tt.lo, tt.hi); got != tt.want {
			t.Errorf("connsPerListener(%d, %d) = %d, want %d", tt.lo, tt.hi, got, tt.want)
		}
	}
}

func TestMakePlan(t *testing.T) {
	l1 := netip.MustParseAddr("127.0.0.1")
	l2 := netip.MustParseAddr("127.0.0.2")
	l3 := netip.MustParseAddr("127.0.0.3")
	v6 := netip.IPv6Loopback()
	lim := limits{ConnsPerProc: 8000, ConnsPerListener: 10000}
	tests := []struct {
		name  string
		conns int
		procs int
		addrs []netip.Addr
		lim   limits
		want  [][]listenerPlan
	}{
		{
			name: "50,000 sockets", conns: 25000, addrs: []netip.Addr{l1}, lim: lim,
			want: [][]listenerPlan{{{l1, 6250}}, {{l1, 6250}}, {{l1, 6250}}, {{l1, 6250}}},
		},
		{
			name: "uneven", conns: 10, procs: 3, addrs: []netip.Addr{l1}, lim: lim,
			want: [][]listenerPlan{{{l1, 4}}, {{l1, 3}}, {{l1, 3}}},
		},
		{
			name: "several listeners per process", conns: 7000, procs: 1, addrs: []netip.Addr{l1, v6},
			lim:  limits{ConnsPerProc: 8000, ConnsPerListener: 3000},
			want: [][]listenerPlan{{{l1, 2334}, {v6, 2333}, {l1, 2333}}},
		},
		{
			name: "every address used", conns: 100, procs: 2, addrs: []netip.Addr{l1, l2, l3}, lim: lim,
			want: [][]listenerPlan{{{l1, 25}, {l2, 25}}, {{l3, 25}, {l1, 25}}},
		},
		{
			name: "no more listeners than connections", conns: 2, procs: 2, addrs: []netip.Addr{l1, l2, l3}, lim: lim,
			want: [][]listenerPlan{{{l1, 1}}, {{l2, 1}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := makePlan(tt.conns, tt.procs, tt.addrs, tt.lim)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, addrCmp); diff != "" {
				t.Errorf("makePlan(%d, %d, %v, %+v) (-want +got):\n%s", tt.conns, tt.procs, tt.addrs, tt.lim, diff)
			}
		})
	}
}

// TestMakePlanLimits checks, over many inputs, that a plan has exactly
// the connections asked for and respects the limits.
func TestMakePlanLimits(t *testing.T) {
	addrs, err := loopbackAddrs(3, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, conns := range []int{1, 2, 7, 999, 25000, 50000, 100001} {
		for _, procs := range []int{0, 1, 5, 16} {
			for _, lim := range []limits{{8000, 10000}, {480, 8192}, {1000, 10}} {
				plan, err := makePlan(conns, procs, addrs, lim)
				if err != nil {
					continue // checked by TestMakePlanErrors
				}
				if procs != 0 && len(plan) != procs {
					t.Errorf("makePlan(%d, %d, _, %+v): %d processes", conns, procs, lim, len(plan))
				}
				total := 0
				for i, ls := range plan {
					pc := 0
					for _, l := range ls {
						if l.Conns < 1 || l.Conns > lim.ConnsPerListener {
							t.Errorf("makePlan(%d, %d, _, %+v): process %d: listener with %d connections", conns, procs, lim, i, l.Conns)
						}
						pc += l.Conns
					}
					if pc > lim.ConnsPerProc {
						t.Errorf("makePlan(%d, %d, _, %+v): process %d has %d connections", conns, procs, lim, i, pc)
					}
					total += pc
				}
				if total != conns {
					t.Errorf("makePlan(%d, %d, _, %+v): %d connections in all", conns, procs, lim, total)
				}
			}
		}
	}
}

func TestMakePlanErrors(t *testing.T) {
	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	lim := limits{ConnsPerProc: 8000, ConnsPerListener: 10000}
	tests := []struct {
		name  string
		conns int
		procs int
		addrs []netip.Addr
		lim   limits
		want  string
	}{
		{"too few processes", 25000, 3, lo, lim, "need at least 4 processes"},
		{"more processes than connections", 2, 3, lo, lim, "more than the 2 connections"},
		{"no connections", 0, 0, lo, lim, "at least 1 connection"},
		{"negative procs", 10, -1, lo, lim, "-procs >= 0"},
		{"no addresses", 10, 0, nil, lim, "no listen addresses"},
		{"not loopback", 10, 0, []netip.Addr{netip.MustParseAddr("192.0.2.1")}, lim, "192.0.2.1 is not a loopback address"},
		{"unspecified", 10, 0, []netip.Addr{netip.IPv4Unspecified()}, lim, "0.0.0.0 is not a loopback address"},
		{"no file limit", 10, 0, lo, limits{0, 10000}, "limits too low"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := makePlan(tt.conns, tt.procs, tt.addrs, tt.lim)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("makePlan(%d, %d, %v, %+v) = %v, want an error containing %q", tt.conns, tt.procs, tt.addrs, tt.lim, err, tt.want)
			}
		})
	}
}

func TestLoopbackAddrs(t *testing.T) {
	got, err := loopbackAddrs(2, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")}
	if diff := cmp.Diff(want, got, addrCmp); diff != "" {
		t.Errorf("loopbackAddrs(2, true) (-want +got):\n%s", diff)
	}
	for _, n := range []int{-1, 255} {
		if _, err := loopbackAddrs(n, false); err == nil {
			t.Errorf("loopbackAddrs(%d, false): no error", n)
		}
	}
	if _, err := loopbackAddrs(0, false); err == nil {
		t.Error("loopbackAddrs(0, false): no error")
	}
}

func TestWorkerSpec(t *testing.T) {
	ls := []listenerPlan{
		{netip.MustParseAddr("127.0.0.1"), 6250},
		{netip.MustParseAddr("::1"), 1},
		{netip.MustParseAddr("127.0.0.254"), 3},
	}
	s := formatWorker(ls)
	if want := "127.0.0.1=6250,::1=1,127.0.0.254=3"; s != want {
		t.Errorf("formatWorker = %q, want %q", s, want)
	}
	got, err := parseWorker(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ls, got, addrCmp); diff != "" {
		t.Errorf("parseWorker(formatWorker(ls)) (-want +got):\n%s", diff)
	}

	for _, bad := range []string{
		"",
		"127.0.0.1",
		"127.0.0.1=0",
		"127.0.0.1=-5",
		"127.0.0.1=x",
		"127.0.0.1=5,",
		"10.0.0.1=5",
		"0.0.0.0=5",
		"::=5",
		"fe80::1%lo=5",
		"localhost=5",
	} {
		if _, err := parseWorker(bad); err == nil {
			t.Errorf("parseWorker(%q): no error", bad)
		}
	}
}
