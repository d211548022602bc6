//go:build linux

package capture_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/pcapfile"
)

const readTimeout = 10 * time.Second

// TestIntegrationVeth captures on one end of a veth pair with a filter
// and checks that exactly the matching datagrams arrive, whole, in
// order, with their metadata, and that Stats counts them.
func TestIntegrationVeth(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	hd := openIn(t, pair.A, pair.A.Link, &capture.Config{Filter: "udp port 9999"})
	if got, want := hd.LinkType(), pcapfile.LinkTypeEthernet; got != want {
		t.Errorf("LinkType = %v, want %v", got, want)
	}
	if got, want := hd.Snaplen(), capture.DefaultSnaplen; got != want {
		t.Errorf("Snaplen = %d, want %d", got, want)
	}
	idx := ifindex(t, pair.A, pair.A.Link)
	to := netip.AddrPortFrom(pair.A.Addr4, 9999)
	other := netip.AddrPortFrom(pair.A.Addr4, 9998)
	sink(t, pair.A, to)
	sink(t, pair.A, other)
	c := udpSocket(t, pair.B, pair.B.Addr4)

	const n = 20
	start := time.Now().UnixNano()
	var want []string
	for i := range n {
		p := fmt.Sprintf("match-%d-%s", i, strings.Repeat("x", i*7))
		want = append(want, p)
		send(t, c, to, p)
		send(t, c, other, fmt.Sprintf("other-%d", i))
	}
	// The marker goes last; on one link nothing overtakes it.
	want = append(want, "end")
	send(t, c, to, "end")

	got := readUntil(t, hd, readTimeout, payloadIs(hd.LinkType(), "end"))
	end := time.Now().UnixNano()
	var payloads []string
	for i, p := range got {
		u, ok := parseUDP(hd.LinkType(), p.Data)
		if !ok {
			t.Errorf("packet %d is not IPv4 UDP: %s", i, describe(hd.LinkType(), p))
			continue
		}
		payloads = append(payloads, u.payload)
		if u.dst != to || u.src.Addr() != pair.B.Addr4 {
			t.Errorf("packet %d: %v > %v, want %v > %v", i, u.src, u.dst, pair.B.Addr4, to)
		}
		if wantLen := 14 + 20 + 8 + len(u.payload); p.Length != wantLen || p.CaptureLength != wantLen || len(p.Data) != wantLen || u.ipLen+14 != wantLen {
			t.Errorf("packet %d: Length %d, CaptureLength %d, len(Data) %d, IP length %d; want %d",
				i, p.Length, p.CaptureLength, len(p.Data), u.ipLen, wantLen)
		}
		if p.Direction != capture.DirectionIn {
			t.Errorf("packet %d: Direction %v, want in", i, p.Direction)
		}
		if p.Ifindex != idx {
			t.Errorf("packet %d: Ifindex %d, want %d", i, p.Ifindex, idx)
		}
		// Only the bounds: the kernel stamps a packet on the CPU that
		// handles it, and packets handed from one CPU's backlog to
		// another's can be stamped out of order (seen: 0.2 ms apart).
		if p.Timestamp < start || p.Timestamp > end {
			t.Errorf("packet %d: timestamp %d not in [%d, %d]", i, p.Timestamp, start, end)
		}
	}
	if diff := cmp.Diff(want, payloads); diff != "" {
		t.Errorf("payloads captured (-want +got):\n%s", diff)
	}

	st, err := hd.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Received < n+1 || st.Dropped != 0 {
		t.Errorf("Stats = %+v, want Received >= %d and Dropped 0", st, n+1)
	}
	// Counts accumulate although the kernel resets them on each read.
	st2, err := hd.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st2.Received < st.Received {
		t.Errorf("second Stats %+v went back from %+v", st2, st)
	}
}

// TestIntegrationSetFilter swaps the filter of an open handle: the
// packets sent before the swap are those of the old filter, the ones
// after it those of the new, and none is lost at the swap; a bad
// expression leaves the filter as it was.
func TestIntegrationSetFilter(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	hd := openIn(t, pair.A, pair.A.Link, &capture.Config{Filter: "udp port 9001"})
	p1 := netip.AddrPortFrom(pair.A.Addr4, 9001)
	p2 := netip.AddrPortFrom(pair.A.Addr4, 9002)
	sink(t, pair.A, p1)
	sink(t, pair.A, p2)
	c := udpSocket(t, pair.B, pair.B.Addr4)
	payloads := func(got []capture.Packet) []string {
		var out []string
		for _, p := range got {
			if u, ok := parseUDP(hd.LinkType(), p.Data); ok {
				out = append(out, fmt.Sprintf("%d:%s", u.dst.Port(), u.payload))
			}
		}
		return out
	}

	send(t, c, p1, "a1")
	send(t, c, p2, "a2")
	send(t, c, p1, "end1")
	// Unread packets of the old filter stay queued across the swap:
	// swap once the socket holds both.
	porttest.WaitFor(t, "two packets queued", func() bool {
		st, err := hd.Stats()
		return err == nil && st.Received >= 2
	})
	if err := hd.SetFilter("udp port 9002"); err != nil {
		t.Fatal(err)
	}
	send(t, c, p1, "b1")
	send(t, c, p2, "b2")
	if err := hd.SetFilter("udp port"); err == nil || !strings.Contains(err.Error(), `"udp port"`) {
		t.Errorf(`SetFilter("udp port") = %v, want an error naming the expression`, err)
	}
	send(t, c, p1, "c1")
	send(t, c, p2, "end2")
	got := payloads(readUntil(t, hd, readTimeout, payloadIs(hd.LinkType(), "end2")))
	if diff := cmp.Diff([]string{"9001:a1", "9001:end1", "9002:b2", "9002:end2"}, got); diff != "" {
		t.Errorf("captured (-want +got):\n%s", diff)
	}

	hd.Close()
	if err := hd.SetFilter(""); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetFilter after Close = %v, want net.ErrClosed", err)
	}
}

// TestIntegrationOutgoing sees what the capturing side sends, marked
// outgoing.
func TestIntegrationOutgoing(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	hd := openIn(t, pair.A, pair.A.Link, &capture.Config{Filter: "udp and dst port 9999"})
	to := netip.AddrPortFrom(pair.B.Addr4, 9999)
	sink(t, pair.B, to)
	c := udpSocket(t, pair.A, pair.A.Addr4)
	send(t, c, to, "out")
	got := readUntil(t, hd, readTimeout, payloadIs(hd.LinkType(), "out"))
	if len(got) != 1 || got[0].Direction != capture.DirectionOut {
		for _, p := range got {
			t.Log(describe(hd.LinkType(), p))
		}
		t.Fatalf("want one outgoing packet")
	}
}

// TestIntegrationSnaplen cuts packets short and keeps their real length.
func TestIntegrationSnaplen(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	hd := openIn(t, pair.A, pair.A.Link, &capture.Config{Filter: "udp port 9999", Snaplen: 64})
	to := netip.AddrPortFrom(pair.A.Addr4, 9999)
	sink(t, pair.A, to)
	c := udpSocket(t, pair.B, pair.B.Addr4)
	payload := "big" + strings.Repeat("y", 997)
	send(t, c, to, payload)
	send(t, c, to, "small")
	got := readUntil(t, hd, readTimeout, func(p capture.Packet) bool { return p.Length < 64 })
	if len(got) != 2 {
		t.Fatalf("got %d packets, want 2", len(got))
	}
	big, small := got[0], got[1]
	if want := 14 + 20 + 8 + len(payload); big.Length != want || big.CaptureLength != 64 || len(big.Data) != 64 {
		t.Errorf("big packet: Length %d, CaptureLength %d, len(Data) %d; want %d, 64, 64", big.Length, big.CaptureLength, len(big.Data), want)
	}
	if !bytes.HasPrefix([]byte(payload), big.Data[42:]) {
		t.Errorf("big packet's captured payload %q is not the start of the payload", big.Data[42:])
	}
	if want := 14 + 20 + 8 + 5; small.Length != want || small.CaptureLength != want {
		t.Errorf("small packet: Length %d, CaptureLength %d; want %d", small.Length, small.CaptureLength, want)
	}
}

// TestIntegrationContext ends Packets when its context is cancelled or
// times out while a read is blocked, and when the Handle is closed.
func TestIntegrationContext(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	hd := openIn(t, pair.A, pair.A.Link, &capture.Config{Filter: "udp port 7"}) // nothing comes

	run := func(ctx context.Context) <-chan error {
		done := make(chan error, 1)
		go func() {
			// Report after the loop, when the iteration has finished.
			last := errors.New("Packets ended without an error")
			for _, err := range hd.Packets(ctx) {
				if err != nil {
					last = err
				}
			}
			done <- last
		}()
		return done
	}
	wait := func(done <-chan error) error {
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("Packets still running 5s after it should have ended")
			return nil
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx)
	time.Sleep(50 * time.Millisecond) // let it block in the read
	cancel()
	if err := wait(done); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := wait(run(ctx)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after timeout: %v, want context.DeadlineExceeded", err)
	}

	// The deadline is cleared for the next iteration: a packet that
	// comes later is still read.
	to := netip.AddrPortFrom(pair.A.Addr4, 7)
	sink(t, pair.A, to)
	send(t, udpSocket(t, pair.B, pair.B.Addr4), to, "later")
	if got := readUntil(t, hd, readTimeout, payloadIs(hd.LinkType(), "later")); len(got) != 1 {
		t.Errorf("got %d packets, want 1", len(got))
	}

	done = run(context.Background())
	time.Sleep(50 * time.Millisecond)
	if err := hd.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wait(done); !errors.Is(err, net.ErrClosed) {
		t.Errorf("after Close: %v, want net.ErrClosed", err)
	}
	if _, err := hd.Stats(); err != nil {
		t.Errorf("Stats after Close: %v", err)
	}
}

// TestIntegrationPcapRoundTrip writes captured packets with pcapfile and
// reads the same packets back.
func TestIntegrationPcapRoundTrip(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	hd := openIn(t, pair.A, pair.A.Link, &capture.Config{Filter: "udp port 9999", Snaplen: 100})
	to := netip.AddrPortFrom(pair.A.Addr4, 9999)
	sink(t, pair.A, to)
	c := udpSocket(t, pair.B, pair.B.Addr4)
	for i := range 10 {
		send(t, c, to, fmt.Sprintf("p%d-%s", i, strings.Repeat("z", i*30)))
	}
	send(t, c, to, "end")

	var buf bytes.Buffer
	w := pcapfile.NewWriter(&buf, hd.LinkType(), uint32(hd.Snaplen()), true)
	got := readUntil(t, hd, readTimeout, payloadIs(hd.LinkType(), "end"))
	for _, p := range got {
		if err := w.WritePacket(p.Timestamp, p.Data, p.Length); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	r, err := pcapfile.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != hd.LinkType() || r.Snaplen() != uint32(hd.Snaplen()) {
		t.Errorf("file: link type %v, snaplen %d; want %v, %d", r.LinkType(), r.Snaplen(), hd.LinkType(), hd.Snaplen())
	}
	type rec struct {
		TS       int64
		Data     []byte
		Cap, Len int
	}
	var want, back []rec
	for _, p := range got {
		want = append(want, rec{p.Timestamp, p.Data, p.CaptureLength, p.Length})
	}
	for p, err := range r.Packets() {
		if err != nil {
			t.Fatal(err)
		}
		back = append(back, rec{p.Timestamp, bytes.Clone(p.Data), p.CaptureLength, p.Length})
	}
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("read back (-captured +file):\n%s", diff)
	}
}

// TestIntegrationLoopback captures traffic the test sends to 127.0.0.1
// inside a namespace: each datagram once, as incoming, as tcpdump shows
// it.
func TestIntegrationLoopback(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	hd := openIn(t, pair.A, "lo", &capture.Config{Filter: "udp port 9999"})
	if got, want := hd.LinkType(), pcapfile.LinkTypeEthernet; got != want {
		t.Errorf("LinkType = %v, want %v", got, want)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	to := netip.AddrPortFrom(lo, 9999)
	sink(t, pair.A, to)
	c := udpSocket(t, pair.A, lo)
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprint("lo-", i))
		send(t, c, to, want[i])
		send(t, c, netip.AddrPortFrom(lo, 9998), "other")
	}
	want = append(want, "end")
	send(t, c, to, "end")

	got := readUntil(t, hd, readTimeout, payloadIs(hd.LinkType(), "end"))
	var payloads []string
	for i, p := range got {
		u, _ := parseUDP(hd.LinkType(), p.Data)
		payloads = append(payloads, u.payload)
		if p.Direction != capture.DirectionIn {
			t.Errorf("packet %d: %s, want incoming", i, describe(hd.LinkType(), p))
		}
		if !bytes.Equal(p.Data[:12], make([]byte, 12)) {
			t.Errorf("packet %d: MAC addresses % x, want zeros on lo", i, p.Data[:12])
		}
	}
	if diff := cmp.Diff(want, payloads); diff != "" {
		t.Errorf("payloads captured on lo (-want +got):\n%s", diff)
	}
	st, err := hd.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// The outgoing copies are dropped before the filter counts them.
	if st.Received != uint64(len(want)) {
		t.Errorf("Stats.Received = %d, want %d", st.Received, len(want))
	}
}

// TestIntegrationAny captures on every interface: cooked headers, the
// interface index of each packet, loopback packets once.
func TestIntegrationAny(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	hd := openIn(t, pair.A, capture.AnyInterface, &capture.Config{Filter: "udp port 9999"})
	if got, want := hd.LinkType(), pcapfile.LinkTypeLinuxSLL; got != want {
		t.Fatalf("LinkType = %v, want %v", got, want)
	}
	vethIdx := ifindex(t, pair.A, pair.A.Link)
	loIdx := ifindex(t, pair.A, "lo")
	lo := netip.MustParseAddr("127.0.0.1")
	sink(t, pair.A, netip.AddrPortFrom(pair.A.Addr4, 9999))
	sink(t, pair.A, netip.AddrPortFrom(lo, 9999))
	sink(t, pair.B, netip.AddrPortFrom(pair.B.Addr4, 9999))

	send(t, udpSocket(t, pair.B, pair.B.Addr4), netip.AddrPortFrom(pair.A.Addr4, 9999), "veth-in")
	got := readUntil(t, hd, readTimeout, payloadIs(hd.LinkType(), "veth-in"))
	send(t, udpSocket(t, pair.A, pair.A.Addr4), netip.AddrPortFrom(pair.B.Addr4, 9999), "veth-out")
	got = append(got, readUntil(t, hd, readTimeout, payloadIs(hd.LinkType(), "veth-out"))...)
	send(t, udpSocket(t, pair.A, lo), netip.AddrPortFrom(lo, 9999), "lo")
	got = append(got, readUntil(t, hd, readTimeout, payloadIs(hd.LinkType(), "lo"))...)

	type sll struct {
		Payload                string
		PktType, HAType, HALen int
		Proto                  int
		Ifindex                int
		Dir                    capture.Direction
	}
	want := []sll{
		{"veth-in", 0, 1, 6, 0x0800, vethIdx, capture.DirectionIn},
		{"veth-out", 4, 1, 6, 0x0800, vethIdx, capture.DirectionOut},
		{"lo", 0, 772, 6, 0x0800, loIdx, capture.DirectionIn},
	}
	var gotSLL []sll
	for _, p := range got {
		u, _ := parseUDP(hd.LinkType(), p.Data)
		d := p.Data
		gotSLL = append(gotSLL, sll{u.payload, int(d[0])<<8 | int(d[1]), int(d[2])<<8 | int(d[3]),
			int(d[4])<<8 | int(d[5]), int(d[14])<<8 | int(d[15]), p.Ifindex, p.Direction})
		if wantLen := 16 + 20 + 8 + len(u.payload); p.Length != wantLen || p.CaptureLength != wantLen {
			t.Errorf("%q: Length %d, CaptureLength %d, want %d", u.payload, p.Length, p.CaptureLength, wantLen)
		}
	}
	if diff := cmp.Diff(want, gotSLL); diff != "" {
		t.Errorf("cooked headers (-want +got):\n%s", diff)
	}
	if _, err := tryOpenIn(pair.A, capture.AnyInterface, &capture.Config{Promiscuous: true}); err == nil {
		t.Error("Open(any, Promiscuous) succeeded")
	}
}

// TestIntegrationAnySnaplen cuts cooked packets to the snapshot length,
// counting the cooked header.
func TestIntegrationAnySnaplen(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	hd := openIn(t, pair.A, capture.AnyInterface, &capture.Config{Filter: "udp port 9999", Snaplen: 50})
	to := netip.AddrPortFrom(pair.A.Addr4, 9999)
	sink(t, pair.A, to)
	send(t, udpSocket(t, pair.B, pair.B.Addr4), to, strings.Repeat("q", 500))
	got := readUntil(t, hd, readTimeout, func(capture.Packet) bool { return true })
	if p := got[0]; p.CaptureLength != 50 || len(p.Data) != 50 || p.Length != 16+20+8+500 {
		t.Errorf("CaptureLength %d, len(Data) %d, Length %d; want 50, 50, %d", p.CaptureLength, len(p.Data), p.Length, 16+20+8+500)
	}
}

// TestIntegrationPromiscuous turns promiscuous mode on while the Handle
// is open.
func TestIntegrationPromiscuous(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	promiscuity := func() string {
		out, err := pair.A.Command(context.Background(), "ip", "-d", "link", "show", pair.A.Link).Output()
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(out))
		for i, w := range f {
			if w == "promiscuity" && i+1 < len(f) {
				return f[i+1]
			}
		}
		t.Fatalf("no promiscuity in %s", out)
		return ""
	}
	before := promiscuity()
	hd := openIn(t, pair.A, pair.A.Link, &capture.Config{Promiscuous: true})
	if during := promiscuity(); during == before {
		t.Errorf("promiscuity %s while open, as before", during)
	}
	hd.Close()
	if after := promiscuity(); after != before {
		t.Errorf("promiscuity %s after Close, want %s", after, before)
	}
}

// TestIntegrationDrops fills a tiny receive buffer and checks that the
// kernel's drops are counted, and that Received counts them too.
func TestIntegrationDrops(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	hd := openIn(t, pair.A, pair.A.Link, &capture.Config{Filter: "udp port 9999", BufferSize: 1})
	to := netip.AddrPortFrom(pair.A.Addr4, 9999)
	sink(t, pair.A, to)
	c := udpSocket(t, pair.B, pair.B.Addr4)
	const n = 200
	payload := strings.Repeat("d", 1000)
	for range n {
		send(t, c, to, payload)
	}
	var st capture.Stats
	for deadline := time.Now().Add(readTimeout); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if st, err = hd.Stats(); err != nil {
			t.Fatal(err)
		}
		if st.Received >= n || time.Now().After(deadline) {
			break
		}
	}
	if st.Received != n || st.Dropped == 0 || st.Dropped >= n {
		t.Fatalf("Stats = %+v, want Received %d and some but not all Dropped", st, n)
	}
	// What was not dropped is queued.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	queued := 0
	for _, err := range hd.Packets(ctx) {
		if err != nil {
			break
		}
		queued++
	}
	if uint64(queued) != st.Received-st.Dropped {
		t.Errorf("read %d queued packets, want Received-Dropped = %d", queued, st.Received-st.Dropped)
	}
	t.Logf("%+v with a minimal buffer", st)
}

// TestIntegrationOpenErrors checks the errors of Open that need a
// namespace.
func TestIntegrationOpenErrors(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	_, err := tryOpenIn(pair.A, "nosuch0", nil)
	if !errors.Is(err, capture.ErrNoSuchInterface) || !strings.Contains(err.Error(), `"nosuch0"`) {
		t.Errorf("Open(nosuch0) = %v, want an error naming it, wrapping ErrNoSuchInterface", err)
	}
	// The veth of the other namespace is not in this one.
	if _, err := tryOpenIn(pair.A, pair.B.Link, nil); !errors.Is(err, capture.ErrNoSuchInterface) {
		t.Errorf("Open(%s) in %s = %v, want ErrNoSuchInterface", pair.B.Link, pair.A.Name, err)
	}
	if out, err := pair.A.Command(context.Background(), "ip", "tuntap", "add", "dev", "ptdown0", "mode", "tun").CombinedOutput(); err != nil {
		t.Logf("no tun device to test a down interface: %v: %s", err, out)
	} else if _, err := tryOpenIn(pair.A, "ptdown0", nil); err == nil || !strings.Contains(err.Error(), "down") {
		t.Errorf("Open(down interface) = %v, want an error saying it is down", err)
	}
}

// TestIntegrationMatchesTcpdump captures the same traffic with tcpdump
// and with this package, and compares the bytes.
func TestIntegrationMatchesTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("needs tcpdump (Debian package tcpdump)")
	}
	const rounds = 5
	for _, tc := range []struct {
		name, iface string
		tcpdumpArgs []string
		want        int // packets that match, per round
	}{
		{"lo", "lo", nil, 1},
		{"veth", "", nil, 2},
		// tcpdump uses LINUX_SLL2 on any unless told.
		{"any", capture.AnyInterface, []string{"-y", "LINUX_SLL"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pair := porttest.NewPair(t, nil)
			iface := tc.iface
			if iface == "" {
				iface = pair.A.Link
			}
			const expr = "udp port 9999"
			hd := openIn(t, pair.A, iface, &capture.Config{Filter: expr, Snaplen: 200})
			lo := netip.MustParseAddr("127.0.0.1")
			sink(t, pair.A, netip.AddrPortFrom(lo, 9999))
			sink(t, pair.A, netip.AddrPortFrom(pair.A.Addr4, 9999))
			sink(t, pair.B, netip.AddrPortFrom(pair.B.Addr4, 9999))
			type flow struct {
				c  net.PacketConn
				to netip.AddrPort
			}
			flows := []flow{
				{udpSocket(t, pair.A, lo), netip.AddrPortFrom(lo, 9999)},                     // lo
				{udpSocket(t, pair.B, pair.B.Addr4), netip.AddrPortFrom(pair.A.Addr4, 9999)}, // veth, in
				{udpSocket(t, pair.A, pair.A.Addr4), netip.AddrPortFrom(pair.B.Addr4, 9999)}, // veth, out
				{udpSocket(t, pair.A, lo), netip.AddrPortFrom(lo, 9998)},                     // filtered out
			}
			n := rounds * tc.want

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{"-i", iface, "-s", "200", "-c", fmt.Sprint(n)}, tc.tcpdumpArgs...)
			td := startTcpdump(t, ctx, pair.A, tcpdump, append(args, expr)...)

			for i := range rounds {
				for j, f := range flows {
					send(t, f.c, f.to, fmt.Sprintf("%d-%d-%s", i, j, strings.Repeat("w", 50*i)))
				}
			}
			ours := readUntil(t, hd, readTimeout, func() func(capture.Packet) bool {
				seen := 0
				return func(capture.Packet) bool { seen++; return seen == n }
			}())
			// Nothing more comes.
			extra, cancelExtra := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancelExtra()
			for p, err := range hd.Packets(extra) {
				if err == nil {
					t.Errorf("unexpected packet: %s", describe(hd.LinkType(), p))
				}
			}
			theirs, link := td.wait(t)
			if link != hd.LinkType() {
				t.Errorf("tcpdump link type %v, ours %v", link, hd.LinkType())
			}

			type rec struct {
				Data     string
				Cap, Len int
			}
			var want, got []rec
			for _, p := range theirs {
				want = append(want, rec{fmt.Sprintf("% x", p.Data), p.CaptureLength, p.Length})
			}
			for _, p := range ours {
				got = append(got, rec{fmt.Sprintf("% x", p.Data), p.CaptureLength, p.Length})
			}
			// Packets on different interfaces may come in either order.
			cmpRec := func(a, b rec) int { return strings.Compare(a.Data, b.Data) }
			slices.SortFunc(want, cmpRec)
			slices.SortFunc(got, cmpRec)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("packets (-tcpdump +capture):\n%s", diff)
			}
		})
	}
}

type tcpdumpRun struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

// startTcpdump runs tcpdump inside h, writing a pcap to memory, and
// returns once it is capturing.
func startTcpdump(t *testing.T, ctx context.Context, h *porttest.Host, tcpdump string, args ...string) *tcpdumpRun {
	t.Helper()
	cmd := h.Command(ctx, tcpdump, append([]string{"-n", "-U", "-w", "-"}, args...)...)
	out := new(bytes.Buffer)
	cmd.Stdout = out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &tcpdumpRun{cmd: cmd, out: out, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		var seen []byte
		buf := make([]byte, 4096)
		for {
			n, err := stderr.Read(buf)
			seen = append(seen, buf[:n]...)
			if bytes.Contains(seen, []byte("listening on")) || err != nil {
				ready <- string(seen)
				// Drain, so that tcpdump never blocks on stderr.
				for err == nil {
					_, err = stderr.Read(buf)
				}
				r.done <- cmd.Wait()
				return
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); <-r.done })
	select {
	case msg := <-ready:
		if !strings.Contains(msg, "listening on") {
			t.Fatalf("tcpdump did not start: %s", msg)
		}
	case <-ctx.Done():
		t.Fatal("tcpdump did not start in time")
	}
	return r
}

// wait waits for tcpdump to exit (after -c packets) and returns what it
// captured.
func (r *tcpdumpRun) wait(t *testing.T) ([]pcapfile.Packet, pcapfile.LinkType) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("tcpdump: %v", err)
		}
	case <-time.After(readTimeout):
		t.Fatal("tcpdump did not see all the packets")
	}
	rd, err := pcapfile.NewReader(bytes.NewReader(r.out.Bytes()))
	if err != nil {
		t.Fatalf("tcpdump output: %v", err)
	}
	var pkts []pcapfile.Packet
	for p, err := range rd.Packets() {
		if err != nil {
			t.Fatalf("tcpdump output: %v", err)
		}
		q := *p
		q.Data = bytes.Clone(p.Data)
		pkts = append(pkts, q)
	}
	return pkts, rd.LinkType()
}
