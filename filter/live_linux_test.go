//go:build linux

package filter_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/filter"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/pcapfile"
)

// liveExtra are expressions of the live test besides the differential
// test's primitives: combinations across the link encapsulations.
var liveExtra = []string{
	"mpls and tcp port 80 or pppoes and udp", "not (llc or stp) and ether multicast",
	"(mpls 100 or mpls 200) and ip6", "pppoes and (ip or ip6) and not tcp",
}

// TestIntegrationLiveMatchesOffline sends the differential test's
// Ethernet frames (captured, built, and cut short; without the VLAN-tagged
// ones, whose tag the receiving kernel takes off before the filter runs)
// across a veth pair in test namespaces, and checks for each expression
// that the program package capture gives the kernel keeps exactly the
// frames a Matcher keeps offline.
//
// The frames go out from one thread pinned to one CPU, so the
// receiving side handles them in order; a second capture waits for a
// last frame of its own, after which every frame has been through the
// first capture's filter.
func TestIntegrationLiveMatchesOffline(t *testing.T) {
	var corpus [][]byte
	for _, f := range filter.EthernetCorpus(t) {
		if len(f) < 14 || len(f) > 1514 {
			continue // the kernel sends no shorter frame, the veth no longer one
		}
		if et := binary.BigEndian.Uint16(f[12:]); et == 0x8100 || et == 0x88a8 {
			continue
		}
		corpus = append(corpus, f)
	}
	exprs := append(slices.Clone(filter.DiffPrimitives), liveExtra...)
	if testing.Short() {
		exprs = exprs[len(exprs)-60:]
	}
	pair := porttest.NewPair(t, nil)
	send := sender(t, pair.B)
	// The last frame: an EtherType of its own (IEEE local experimental 2).
	sentinel := append([]byte("\x00\x01\x02\x03\x04\x05\x00\x06\x07\x08\x09\x0a\x88\xb6"), []byte("end of the corpus, padded to the Ethernet minimum of 46 bytes")...)
	in := make(map[string]int, len(corpus))
	for i, f := range corpus {
		in[string(f)] = i
	}
	var compared, kept int
	for _, expr := range exprs {
		e, err := filter.Parse(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		m, err := e.Matcher(pcapfile.LinkTypeEthernet)
		if err != nil {
			continue // refused for Ethernet (inbound, outbound), as by tcpdump
		}
		var want []int
		for i, f := range corpus {
			if m.Match(f, len(f)) {
				want = append(want, i)
			}
		}
		got, stats := liveKeeps(t, pair, expr, corpus, in, sentinel, send)
		if stats.Dropped > 0 {
			t.Fatalf("%q: the kernel dropped %d frames (receive buffer full): nothing to compare", expr, stats.Dropped)
		}
		compared += len(corpus)
		kept += len(want)
		if !slices.Equal(want, got) {
			t.Errorf("%q: the kernel's program keeps other frames than the Matcher:\n%s", expr, listDiff(corpus, want, got))
		}
	}
	t.Logf("%d expressions, %d frames each, %d verdicts compared, %d frames kept", len(exprs), len(corpus), compared, kept)
	if kept == 0 || kept == compared {
		t.Errorf("kept %d of %d: the comparison tells nothing", kept, compared)
	}
}

// liveKeeps captures on pair.A with filter expr while send sends the
// corpus and then the sentinel from pair.B, and returns the indexes of
// the corpus frames the capture kept, in order.
func liveKeeps(t *testing.T, pair *porttest.Pair, expr string, corpus [][]byte, in map[string]int, sentinel []byte,
	send func([][]byte) error) ([]int, capture.Stats) {
	t.Helper()
	open := func(f string) *capture.Handle {
		var h *capture.Handle
		err := pair.A.Do(func() error {
			var err error
			h, err = capture.Open(context.Background(), pair.A.Link, &capture.Config{Filter: f, BufferSize: 64 << 20})
			return err
		})
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("capture needs root or CAP_NET_RAW: %v", err)
		}
		if err != nil {
			t.Fatalf("Open(%q): %v", f, err)
		}
		return h
	}
	h := open(expr)
	defer h.Close()
	end := open("ether proto 0x88b6")
	defer end.Close()
	if err := send(append(slices.Clone(corpus), sentinel)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for p, err := range end.Packets(ctx) {
		if err != nil {
			t.Fatalf("%q: waiting for the last frame: %v", expr, err)
		}
		if bytes.Equal(p.Data, sentinel) {
			break
		}
	}
	// Every frame has been through h's filter: read what it kept, until
	// its queue is empty.
	var got []int
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		n := 0
		for p, err := range h.Packets(ctx) {
			if err != nil {
				break
			}
			n++
			if i, ok := in[string(p.Data)]; ok && p.Length == len(p.Data) {
				got = append(got, i)
			}
		}
		cancel()
		if n == 0 {
			break
		}
	}
	stats, err := h.Stats()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got, stats
}

// sender returns a function that sends frames out of h's veth from one
// thread pinned to one CPU, so that the receiving side gets them in
// order.
func sender(t *testing.T, h *porttest.Host) func([][]byte) error {
	t.Helper()
	var conn *packet.Conn
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.Link)
		if err != nil {
			return err
		}
		conn, err = packet.Listen(ifi, packet.Raw, 0, nil) // protocol 0: sends only
		return err
	})
	if errors.Is(err, os.ErrPermission) {
		t.Skipf("sending frames needs root or CAP_NET_RAW: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return func(frames [][]byte) error {
		done := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var old, one unix.CPUSet
			if err := unix.SchedGetaffinity(0, &old); err != nil {
				done <- err
				return
			}
			cpu := -1
			for i := range 1024 {
				if old.IsSet(i) {
					cpu = i
					break
				}
			}
			one.Set(cpu)
			if err := unix.SchedSetaffinity(0, &one); err != nil {
				done <- err
				return
			}
			defer unix.SchedSetaffinity(0, &old)
			to := &packet.Addr{HardwareAddr: net.HardwareAddr{0, 1, 2, 3, 4, 5}}
			for i, f := range frames {
				if _, err := conn.WriteTo(f, to); err != nil {
					done <- fmt.Errorf("sending frame %d (% x): %w", i, f[:min(len(f), 20)], err)
					return
				}
			}
			done <- nil
		}()
		return <-done
	}
}

// listDiff names the frames on which two sorted index lists differ.
func listDiff(corpus [][]byte, want, got []int) string {
	var b strings.Builder
	for _, i := range want {
		if !slices.Contains(got, i) {
			fmt.Fprintf(&b, "  offline only: frame %d: % x\n", i, corpus[i][:min(len(corpus[i]), 40)])
		}
	}
	for _, i := range got {
		if !slices.Contains(want, i) {
			fmt.Fprintf(&b, "  live only: frame %d: % x\n", i, corpus[i][:min(len(corpus[i]), 40)])
		}
	}
	return b.String()
}
