package scan

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
)

// loopbackSet returns n open TCP ports of 127.0.0.1 (listening until the
// test ends) and m free ones, as one set.
func loopbackSet(t *testing.T, n, m int) (set ports.Set, open, closed []ports.Port) {
	t.Helper()
	for range n {
		_, ap := porttest.ListenTCP(t)
		open = append(open, ports.Port(ap.Port()))
	}
	closed = porttest.FreePorts(t, m)
	for _, p := range slices.Concat(open, closed) {
		set.Add(ports.ProtoTCP, ports.Range{First: p, Last: p})
	}
	return set, open, closed
}

// TestRunConnect: one Host for the target, yielded once, holding every
// port's result (as OnResult saw them) by port, and up for its open
// ports.
func TestRunConnect(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	set, open, closed := loopbackSet(t, 2, 3)
	var seen []Result
	plan := &Plan{Options: Options{Ports: set}, TCP: EngineConnect, OnResult: func(r Result, err error) {
		if err != nil {
			t.Errorf("%v: %v", r.AddrPort(), err)
		}
		seen = append(seen, r)
	}}
	var hosts []*Host
	for h, err := range Run(t.Context(), []Target{{Addr: lo, Name: "lo"}}, plan) {
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != len(open)+len(closed) {
			t.Errorf("host yielded after %d of its %d results", len(seen), len(open)+len(closed))
		}
		hosts = append(hosts, h)
	}
	if len(hosts) != 1 {
		t.Fatalf("%d hosts, want 1", len(hosts))
	}
	h := hosts[0]
	results := slices.Collect(h.Results())
	if h.Addr != lo || h.Name != "lo" || h.State != HostUp || h.Reason != ReasonSynAck {
		t.Errorf("host %v %q: %v %q, want up syn-ack", h.Addr, h.Name, h.State, h.Reason)
	}
	want := map[ports.Port]string{}
	for _, p := range open {
		want[p] = "open"
	}
	for _, p := range closed {
		want[p] = "closed"
	}
	got := map[ports.Port]string{}
	for i, r := range results {
		got[r.Port] = r.State.String()
		if i > 0 && results[i-1].Port >= r.Port {
			t.Errorf("results not by port: %d then %d", results[i-1].Port, r.Port)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	slices.SortFunc(seen, func(a, b Result) int { return int(a.Port) - int(b.Port) })
	if !slices.Equal(seen, results) {
		t.Errorf("Host.Results %+v\nOnResult saw %+v", results, seen)
	}
	if h.Times.Samples != len(want) || h.Times.SRTT <= 0 || h.Times.Timeout < MinTimeout {
		t.Errorf("Times = %+v, want %d samples", h.Times, len(want))
	}
}

// TestRunDiscover: a host that discovery finds down is yielded at once,
// with no port probed; one found up keeps what discovery said.
func TestRunDiscover(t *testing.T) {
	up, down := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	set, _, _ := loopbackSet(t, 1, 1)
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	probed := map[netip.Addr]int{}
	plan := &Plan{Options: Options{Ports: set}, TCP: EngineConnect,
		Discover: func(ctx context.Context, targets []Target) iter.Seq2[HostStatus, error] {
			return func(yield func(HostStatus, error) bool) {
				if !yield(HostStatus{Addr: down, State: HostDown, Reason: ReasonNoResponse}, nil) {
					return
				}
				yield(HostStatus{Addr: up, State: HostUp, Reason: "arp-response", Latency: time.Millisecond, MAC: mac}, nil)
			}
		},
		OnResult: func(r Result, err error) { probed[r.Addr]++ },
	}
	var order []netip.Addr
	for h, err := range Run(t.Context(), []Target{{Addr: up}, {Addr: down}}, plan) {
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, h.Addr)
		switch h.Addr {
		case down:
			if h.State != HostDown || h.Len() != 0 || len(probed) != 0 {
				t.Errorf("down host: %v, %d results, %d probes done before it", h.State, h.Len(), len(probed))
			}
		case up:
			if h.State != HostUp || h.Reason != "arp-response" || h.Latency != time.Millisecond || h.MAC.String() != mac.String() || h.Len() != 2 {
				t.Errorf("up host: %v %q %v %v, %d results", h.State, h.Reason, h.Latency, h.MAC, h.Len())
			}
		}
	}
	if !slices.Equal(order, []netip.Addr{down, up}) || probed[down] != 0 || probed[up] != 2 {
		t.Errorf("hosts yielded %v, probes %v", order, probed)
	}
}

// TestRunDiscoverStreams: each host discovery finds down is yielded as
// discovery decides it, before discovery's next decision, so that a
// network's absent hosts are not held until discovery ends; a host
// discovery says nothing of, or gives a host error for, is port-scanned.
func TestRunDiscoverStreams(t *testing.T) {
	set, _, _ := loopbackSet(t, 1, 1)
	lo := netip.MustParseAddr("127.0.0.1")
	var targets []Target
	for a, i := netip.MustParseAddr("127.0.1.1"), 0; i < 1000; a, i = a.Next(), i+1 {
		targets = append(targets, Target{Addr: a})
	}
	targets = append(targets, Target{Addr: lo}, Target{Addr: netip.MustParseAddr("127.0.0.2")})
	decided := 0 // hosts discovery has yielded
	probed := map[netip.Addr]int{}
	plan := &Plan{Options: Options{Ports: set}, TCP: EngineConnect,
		Discover: func(ctx context.Context, ts []Target) iter.Seq2[HostStatus, error] {
			return func(yield func(HostStatus, error) bool) {
				// Backwards, to see that the order is discovery's.
				for i := 999; i >= 0; i-- {
					decided++
					if !yield(HostStatus{Addr: ts[i].Addr, State: HostDown, Reason: ReasonNoResponse}, nil) {
						return
					}
				}
				yield(HostStatus{Addr: netip.MustParseAddr("127.0.0.2")}, errors.New("no source address"))
			}
		},
		OnResult: func(r Result, err error) { probed[r.Addr]++ },
	}
	n := 0
	for h, err := range Run(t.Context(), targets, plan) {
		if err != nil {
			t.Fatal(err)
		}
		if n < 1000 {
			if want := targets[999-n].Addr; h.Addr != want || decided != n+1 || h.State != HostDown || h.Len() != 0 {
				t.Fatalf("host %d: %v (%v, %d results) after %d decisions; want %v after %d", n, h.Addr, h.State, h.Len(), decided, want, n+1)
			}
		} else if h.Len() != 2 {
			t.Errorf("%v: %d results, want the 2 ports", h.Addr, h.Len())
		}
		n++
	}
	if n != len(targets) || len(probed) != 2 || probed[lo] != 2 {
		t.Errorf("%d hosts yielded of %d; probes %v, want 2 to each of 127.0.0.1 and .2", n, len(targets), probed)
	}
}

// TestRunDiscoverError: discovery's error that names no host ends the
// scan before any probe.
func TestRunDiscoverError(t *testing.T) {
	set, _, _ := loopbackSet(t, 1, 0)
	boom := errors.New("no interface")
	plan := &Plan{Options: Options{Ports: set}, TCP: EngineConnect,
		Discover: func(ctx context.Context, targets []Target) iter.Seq2[HostStatus, error] {
			return func(yield func(HostStatus, error) bool) { yield(HostStatus{}, boom) }
		},
		OnResult: func(r Result, err error) { t.Errorf("probed %v", r.AddrPort()) },
	}
	var errs []error
	for h, err := range Run(t.Context(), []Target{{Addr: netip.MustParseAddr("127.0.0.1")}}, plan) {
		if h != nil {
			t.Errorf("host %v yielded", h.Addr)
		}
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], boom) {
		t.Errorf("errors %v, want %v", errs, boom)
	}
}

// TestRunIdentify: Identify names the service of an open port, an SSH
// greeting here.
func TestRunIdentify(t *testing.T) {
	ap := porttest.ServeTCP(t, func(c net.Conn) {
		c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"))
		time.Sleep(100 * time.Millisecond)
	})
	var set ports.Set
	set.Add(ports.ProtoTCP, ports.Range{First: ports.Port(ap.Port()), Last: ports.Port(ap.Port())})
	plan := &Plan{Options: Options{Ports: set}, TCP: EngineConnect, Identify: true}
	n := 0
	for h, err := range Run(t.Context(), []Target{{Addr: ap.Addr()}}, plan) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		rs := slices.Collect(h.Results())
		if len(rs) != 1 || rs[0].Service.Name != "ssh" || rs[0].Service.Product != "OpenSSH" {
			t.Errorf("results %+v, want ssh OpenSSH", rs)
		}
	}
	if n != 1 {
		t.Errorf("%d hosts, want 1", n)
	}
}

// TestRunBadTargets: an invalid or repeated target ends Run with one
// error and no host.
func TestRunBadTargets(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, targets := range [][]Target{{{}}, {{Addr: lo}, {Addr: lo}}} {
		n := 0
		for h, err := range Run(t.Context(), targets, &Plan{TCP: EngineConnect}) {
			n++
			if h != nil || err == nil {
				t.Errorf("%v: got %v, %v; want one error", targets, h, err)
			}
		}
		if n != 1 {
			t.Errorf("%v: %d values, want 1", targets, n)
		}
	}
}

// TestRunCanceled: a scan whose ctx ends yields every host, then the
// error.
func TestRunCanceled(t *testing.T) {
	set, _, _ := loopbackSet(t, 1, 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var got []string
	for h, err := range Run(ctx, []Target{{Addr: netip.MustParseAddr("127.0.0.1")}}, &Plan{Options: Options{Ports: set}, TCP: EngineConnect}) {
		switch {
		case h != nil:
			got = append(got, "host")
		case errors.Is(err, context.Canceled):
			got = append(got, "canceled")
		default:
			got = append(got, err.Error())
		}
	}
	if !slices.Equal(got, []string{"host", "canceled"}) {
		t.Errorf("got %v, want [host canceled]", got)
	}
}

// TestCheckpointRecordRoundTrip: what the journal writes, it reads back.
func TestCheckpointRecordRoundTrip(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.7")
	tests := []struct {
		r   Result
		err error
	}{
		{Result{Addr: a, Port: 22, Proto: ports.ProtoTCP, State: StateOpen, Reason: ReasonSynAck, RTT: 350 * time.Microsecond, Tries: 1, TTL: 64}, nil},
		{Result{Addr: a, Port: 23, Proto: ports.ProtoTCP, State: StateFiltered, Reason: ReasonAdminProhibited, Tries: 2,
			ICMP: ICMPInfo{From: netip.MustParseAddr("192.0.2.1"), Type: 3, Code: 13}}, nil},
		{Result{Addr: a, Port: 24, Proto: ports.ProtoTCP, State: StateUnknown, Reason: "syn-ack+reset", Tries: 1, TTL: 60},
			&ConflictError{Addr: a, Port: 24, First: ReasonSynAck, Second: ReasonReset, SecondTTL: 60}},
		{Result{Addr: a, Proto: ports.ProtoTCP}, &TarpitError{Addr: a, Open: 998, Probed: 1000}},
		{Result{Addr: a, Port: 25, Proto: ports.ProtoTCP, State: StateUnknown, Tries: 1}, errors.New("scan: connect tcp: EPERM")},
	}
	for _, tt := range tests {
		rec := checkpointRecordOf(tt.r, tt.err)
		r, err, ok := rec.result()
		if !ok {
			t.Errorf("%+v: record %+v does not read back", tt.r, rec)
			continue
		}
		if r != tt.r {
			t.Errorf("result written %+v, read %+v", tt.r, r)
		}
		if (err == nil) != (tt.err == nil) || err != nil && err.Error() != tt.err.Error() {
			t.Errorf("error %v, want %v", err, tt.err)
		}
	}
}

// TestOpenCheckpointErrors: a missing file is a new scan; a finished
// scan, a file that is not a progress file, and a journal that does not
// agree with it are errors naming the file.
func TestOpenCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.json")
	c, err := OpenCheckpoint(path)
	if err != nil || c.Progress() != nil {
		t.Fatalf("missing file: %v, %v", c, err)
	}
	write := func(name, s string) {
		if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(path, `{"version":1,"finished":true}`)
	if _, err := OpenCheckpoint(path); !errors.Is(err, ErrCheckpointFinished) {
		t.Errorf("finished: %v", err)
	}
	var ce *CheckpointError
	write(path, `not json`)
	if _, err := OpenCheckpoint(path); !errors.As(err, &ce) || ce.Path != path {
		t.Errorf("not json: %v", err)
	}
	write(path, `{"version":1,"results_size":10}`)
	write(path+".results", `{"a":"192.0.2.7","p":22,"t":"tcp","s":"open","r":"syn-ack"}`+"\n")
	if _, err := OpenCheckpoint(path); !errors.As(err, &ce) || ce.Path != path+".results" {
		t.Errorf("short journal: %v", err)
	}
	write(path+".results", `{"a":"192.0.2.7","p":22,"t":"tcp","s":"opened"}`+"\n")
	write(path, `{"version":1,"results_size":48}`)
	if _, err := OpenCheckpoint(path); !errors.As(err, &ce) || ce.Path != path+".results" {
		t.Errorf("bad state: %v", err)
	}
}

// FuzzCheckpointRecord: any journal line that reads as a result is
// written back as a record that reads as the same result.
func FuzzCheckpointRecord(f *testing.F) {
	f.Add(`{"a":"192.0.2.7","p":22,"t":"tcp","s":"open","r":"syn-ack","rtt":350,"n":1,"ttl":64}`)
	f.Add(`{"a":"192.0.2.7","t":"tcp","tarpit":[998,1000]}`)
	f.Add(`{"a":"2001:db8::1","p":24,"t":"tcp","s":"unknown","r":"syn-ack+reset","conflict":["syn-ack","reset"]}`)
	f.Add(`{"a":"192.0.2.7","p":23,"t":"udp","s":"filtered","icmp":{"from":"192.0.2.1","type":3,"code":13}}`)
	f.Add(`{"a":"192.0.2.7","p":25,"t":"tcp","s":"unknown","err":"boom"}`)
	f.Add(`{"a":"","t":"tcp"}`)
	f.Fuzz(func(t *testing.T, line string) {
		var rec checkpointRecord
		if json.Unmarshal([]byte(line), &rec) != nil {
			return
		}
		r, err, ok := rec.result()
		if !ok {
			return
		}
		rec2 := checkpointRecordOf(r, err)
		r2, err2, ok := rec2.result()
		if !ok {
			t.Fatalf("%q: rewritten record %+v does not read back", line, rec2)
		}
		if r != r2 {
			t.Fatalf("%q: read %+v, then %+v", line, r, r2)
		}
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("%q: error %v then %v", line, err, err2)
		}
	})
}
