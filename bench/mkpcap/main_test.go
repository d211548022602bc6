package main

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/pcapfile"
	"github.com/portkit/ports/wire"
)

func testConfig(snaplen int) *config {
	return &config{packets: 30_000, flows: 400, clients: 50, servers: 12, duration: time.Minute, snaplen: snaplen, seed: 3}
}

func gen(t *testing.T, cfg *config) []byte {
	t.Helper()
	var buf bytes.Buffer
	sum, err := generate(&buf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.packets != cfg.packets || sum.flows != cfg.flows {
		t.Fatalf("summary: %d packets, %d flows; want %d, %d", sum.packets, sum.flows, cfg.packets, cfg.flows)
	}
	return buf.Bytes()
}

type packet struct {
	ts      int64
	data    []byte
	origLen int
}

func readAll(t *testing.T, b []byte) (*pcapfile.Reader, []packet) {
	t.Helper()
	r, err := pcapfile.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out []packet
	for p, err := range r.Packets() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, packet{p.Timestamp, bytes.Clone(p.Data), p.Length})
	}
	return r, out
}

// dirState is one direction of a connection, as the tap saw it.
type dirState struct {
	isn, next uint32 // next: the highest sequence number sent, plus one
	synSeen   bool
}

// TestCapture checks a whole capture: the packet count, timestamps in
// order, every frame a well-formed Ethernet/IPv4/TCP frame with correct
// checksums, one connection per planned flow, each opened by a SYN, with
// no hole in either direction's sequence numbers at the tap and no
// acknowledgment of data not yet sent.
func TestCapture(t *testing.T) {
	cfg := testConfig(0)
	r, pkts := readAll(t, gen(t, cfg))
	if r.LinkType() != pcapfile.LinkTypeEthernet {
		t.Errorf("link type %v, want Ethernet", r.LinkType())
	}
	if len(pkts) != cfg.packets {
		t.Fatalf("%d packets, want %d", len(pkts), cfg.packets)
	}
	type conn struct {
		client, server netip.AddrPort
		dir            [2]dirState // by sender: client, server
	}
	conns := make(map[[2]netip.AddrPort]*conn)
	var p wire.Packet
	var prev int64
	retrans := 0
	for i, pk := range pkts {
		if pk.ts < prev {
			t.Fatalf("packet %d: timestamp %d before the previous one's, %d", i+1, pk.ts, prev)
		}
		prev = pk.ts
		if err := p.Decode(pcapfile.LinkTypeEthernet, pk.data, pk.origLen); err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
		if !p.Layers.Has(wire.LayerIPv4) || !p.Layers.Has(wire.LayerTCP) || p.Truncated {
			t.Fatalf("packet %d: layers %v, truncated %v; want whole IPv4 and TCP", i+1, p.Layers, p.Truncated)
		}
		if p.IP.Checksum.Status != wire.ChecksumGood || p.TCP.Checksum.Status != wire.ChecksumGood {
			t.Fatalf("packet %d: IP checksum %v, TCP checksum %v", i+1, p.IP.Checksum, p.TCP.Checksum)
		}
		if p.WireLen > 1514 || p.WireLen < 60 {
			t.Fatalf("packet %d: %d bytes on the wire", i+1, p.WireLen)
		}
		src, dst, _ := p.Endpoints()
		k := [2]netip.AddrPort{src, dst}
		if src.Port() > dst.Port() {
			k = [2]netip.AddrPort{dst, src}
		}
		c := conns[k]
		f := p.TCP.Flags
		if c == nil {
			if !f.Has(wire.TCPSyn) || f.Has(wire.TCPAck) {
				t.Fatalf("packet %d: connection %v > %v starts with flags %v, not a SYN", i+1, src, dst, f)
			}
			c = &conn{client: src, server: dst}
			conns[k] = c
		}
		from := 0
		if src != c.client {
			from = 1
		}
		d, o := &c.dir[from], &c.dir[1-from]
		end := p.TCP.Seq + uint32(p.PayloadLen)
		if f.Has(wire.TCPSyn) || f.Has(wire.TCPFin) {
			end++
		}
		switch {
		case f.Has(wire.TCPSyn) && !d.synSeen:
			d.synSeen, d.isn, d.next = true, p.TCP.Seq, end
		case f.Has(wire.TCPRst) && !d.synSeen: // refused
		case !d.synSeen:
			t.Fatalf("packet %d: %v before a SYN from %v", i+1, f, src)
		case int32(p.TCP.Seq-d.next) > 0:
			t.Fatalf("packet %d: %v > %v: seq %d after a hole (next %d)", i+1, src, dst, p.TCP.Seq-d.isn, d.next-d.isn)
		case p.PayloadLen > 0 && int32(p.TCP.Seq-d.next) < 0:
			retrans++
		}
		if int32(end-d.next) > 0 {
			d.next = end
		}
		if f.Has(wire.TCPAck) && o.synSeen && int32(p.TCP.Ack-o.next) > 0 {
			t.Fatalf("packet %d: %v > %v acknowledges %d, beyond %d sent", i+1, src, dst, p.TCP.Ack-o.isn, o.next-o.isn)
		}
	}
	if len(conns) != cfg.flows {
		t.Errorf("%d connections, want %d", len(conns), cfg.flows)
	}
	if retrans == 0 {
		t.Errorf("no retransmissions")
	}
	t.Logf("%d packets, %d connections, %d retransmissions", len(pkts), len(conns), retrans)
}

// TestSnaplen checks that a capture with a snapshot length is the whole
// capture cut short, and that the output depends only on the flags.
func TestSnaplen(t *testing.T) {
	_, whole := readAll(t, gen(t, testConfig(0)))
	cut128 := gen(t, testConfig(128))
	if again := gen(t, testConfig(128)); !bytes.Equal(cut128, again) {
		t.Fatal("two runs with the same flags differ")
	}
	r, cut := readAll(t, cut128)
	if r.Snaplen() != 128 {
		t.Errorf("snaplen %d, want 128", r.Snaplen())
	}
	short := 0
	for i := range whole {
		w, c := whole[i], cut[i]
		n := min(len(w.data), 128)
		if c.ts != w.ts || c.origLen != w.origLen || !bytes.Equal(c.data, w.data[:n]) {
			t.Fatalf("packet %d differs from the whole capture's, cut to 128 bytes", i+1)
		}
		if len(c.data) < c.origLen {
			short++
		}
	}
	if short == 0 {
		t.Error("no packet was cut short")
	}
}

func TestRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.pcap")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-packets", "5000", "-duration", "30s", "-o", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "5000 packets, 250 TCP connections") {
		t.Errorf("summary: %q", stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, pkts := readAll(t, b); len(pkts) != 5000 {
		t.Errorf("%d packets, want 5000", len(pkts))
	}

	for _, args := range [][]string{{}, {"-o", out, "-packets", "10"}, {"-o", out, "extra"}, {"-bogus"}, {"-o", out, "-snaplen", "20"}} {
		stderr.Reset()
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("run %q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}
