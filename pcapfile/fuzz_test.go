package pcapfile

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzReader reads arbitrary input and checks that the Reader
//   - never panics, and returns only *FormatError (or io.EOF at the end);
//   - keeps its buffer within the size of the input, however large the
//     lengths the input claims;
//   - returns the same packets and the same error whether the input comes
//     in one piece into a buffer of its size or in small pieces into a
//     4 KiB buffer that must move and grow, and through ReadPacket or
//     the Packets iterator;
//   - for pcap input read without error, writes the packets back with
//     Writer and reads back the same packets, which pcapgo reads alike.
func FuzzReader(f *testing.F) {
	paths, _ := os.ReadDir(testdataDir)
	for _, p := range paths {
		if b, err := os.ReadFile(testdataDir + "/" + p.Name()); err == nil && p.Name() != "SOURCES.txt" {
			f.Add(b)
		}
	}
	le := pcapHeader(false, false, 2, 4, 65535, 1)
	f.Add([]byte{})                                    // empty input
	f.Add([]byte{0x1f, 0x8b, 8, 0})                    // gzip
	f.Add(le)                                          // pcap header, no packet
	f.Add(le[:23])                                     // pcap header cut
	f.Add(append(bytes.Clone(le), 1, 2, 3))            // record header cut
	f.Add(append(pcapHeader(true, true, 2, 4, 0, 113), // big-endian ns, caplen > len
		pcapRecord(true, 1, 999_999_999, 4, 2, []byte{1, 2, 3, 4})...))
	f.Add(append(bytes.Clone(le), pcapRecord(false, math.MaxUint32, math.MaxUint32, 1, 1, []byte{9})...)) // frac beyond a second, at the end of time
	f.Add(append(bytes.Clone(le), pcapRecord(false, 1, 2, MaxCaptureLength+1, 0, nil)...))                // caplen over the limit
	f.Add(append(bytes.Clone(le), pcapRecord(false, 1, 2, 10, 10, []byte{1, 2})...))                      // record data cut

	var g ngBuilder
	f.Add(bytes.Clone(g.shb(false).b)) // section header only
	g = ngBuilder{}
	f.Add(bytes.Clone(g.shb(true).idb(LinkTypeEthernet, 64).epb(0, 1, []byte{1, 2, 3}, 3).b)) // big-endian
	g = ngBuilder{}
	g.shb(false, opt(4, []byte("app"))).
		idb(LinkTypeEthernet, 4, opt(ngOptTSResol, []byte{0x80 | 20}), opt(ngOptTSOffset, le64(uint64(1<<64-5)))).
		block(0x0bad, []byte("custom")).
		spb([]byte{1, 2, 3, 4, 5, 6}, 6).
		pb(0, 1<<40, []byte{7}, 1).
		epb(0, 1<<62, []byte{8, 9}, 2, opt(1, []byte("c"))).
		shb(true).
		idb(LinkTypeRaw, 0, opt(ngOptTSResol, []byte{9})).
		epb(0, 5, []byte{0x45}, 20)
	f.Add(g.b) // both byte orders, SPB, PB, binary resolution, negative offset
	var ng bytes.Buffer
	nw := NewNgWriter(&ng, LinkTypeEthernet, 0, "lo")
	nw.WritePacket(1, []byte{1, 2, 3}, 0, "process a/1 > b/2")
	nw.Flush()
	f.Add(ng.Bytes()) // as NgWriter writes, with a comment
	f.Add(g.b[:len(g.b)-2])

	f.Fuzz(func(t *testing.T, in []byte) {
		ra, errA := NewReader(bytes.NewReader(in))
		rb, errB := newReaderSize(&smallReader{b: in, n: 1 + len(in)%13}, minBufSize)
		if (errA == nil) != (errB == nil) || (errA != nil && errA.Error() != errB.Error()) {
			t.Fatalf("NewReader errors differ: %v; %v", errA, errB)
		}
		if errA != nil {
			mustFormatError(t, errA)
			return
		}
		pkts, errA := readAll(t, ra)
		if errA != nil {
			mustFormatError(t, errA)
		}
		for i, p := range pkts {
			if ra.Format() == FormatPcap && p.CaptureLength > captureLimit(ra.Snaplen()) ||
				p.CaptureLength > maxSnaplen || p.Length < 0 || p.InterfaceIndex < 0 {
				t.Fatalf("packet %d: %+v", i, p)
			}
		}
		if cap(ra.buf) > max(len(in)+1, minBufSize) {
			t.Fatalf("buffer grew to %d bytes for %d bytes of input", cap(ra.buf), len(in))
		}

		var pktsB []Packet
		errB = nil
		for p, err := range rb.Packets() {
			if err != nil {
				errB = err
				break
			}
			q := *p
			q.Data = bytes.Clone(p.Data)
			pktsB = append(pktsB, q)
		}
		if (errA == nil) != (errB == nil) || (errA != nil && errA.Error() != errB.Error()) {
			t.Fatalf("errors differ: %v; %v", errA, errB)
		}
		if !packetsEqual(pkts, pktsB) {
			t.Fatalf("small reads (-whole +pieces):\n%s", cmp.Diff(pkts, pktsB, cmpopts.EquateEmpty()))
		}
		if cap(rb.buf) > max(2*len(in), minBufSize) {
			t.Fatalf("buffer grew to %d bytes for %d bytes of input", cap(rb.buf), len(in))
		}

		if errA == nil && ra.Format() == FormatPcap {
			roundTrip(t, in, ra, pkts)
		}
	})
}

func mustFormatError(t *testing.T, err error) {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FormatError", err, err)
	}
	if fe.Err != nil && fe.Err != io.ErrUnexpectedEOF && fe.Err != ErrUnknownFormat && fe.Err != ErrUnsupportedVersion {
		t.Fatalf("error %v wraps %v", err, fe.Err)
	}
}

// roundTrip writes pkts, read from the pcap file in, with Writer, reads
// them back, and compares, also with pcapgo's reading of the copy.
func roundTrip(t *testing.T, in []byte, r *Reader, pkts []Packet) {
	nano := in[0] == 0x4d || in[3] == 0x4d // a1b23c4d in either order
	snaplen := r.Snaplen()
	for _, p := range pkts {
		snaplen = max(snaplen, uint32(p.CaptureLength))
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, r.LinkType(), snaplen, nano)
	var want []Packet
	for _, p := range pkts {
		err := w.WritePacket(p.Timestamp, p.Data, p.Length)
		if p.Timestamp/1e9 > math.MaxUint32 {
			// A fraction of a second beyond 1e9 ns (or 1e6 µs) in the
			// last second pcap can hold.
			if !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("WritePacket(%d) = %v, want ErrOutOfRange", p.Timestamp, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("WritePacket(%+v): %v", p, err)
		}
		p.Length = max(p.Length, p.CaptureLength) // the Writer raises it
		want = append(want, p)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	copyPkts, err := readAll(t, mustReader(t, buf.Bytes()))
	if err != nil {
		t.Fatalf("reading the copy: %v", err)
	}
	if !packetsEqual(want, copyPkts) {
		t.Fatalf("round trip (-original +copy):\n%s", cmp.Diff(want, copyPkts, cmpopts.EquateEmpty()))
	}
	oracle, err := readPcapgo(buf.Bytes())
	if err != nil {
		t.Fatalf("pcapgo reading the copy: %v", err)
	}
	ours := make([]oraclePacket, len(copyPkts))
	for i, p := range copyPkts {
		ours[i] = fromPacket(p)
	}
	if !oracleEqual(oracle, ours) {
		t.Fatalf("copy (-pcapgo +pcapfile):\n%s", cmp.Diff(oracle, ours, cmpopts.EquateEmpty()))
	}
}
