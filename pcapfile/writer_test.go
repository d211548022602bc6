package pcapfile

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestWriterBytes(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, LinkTypeEthernet, 0, false)
	if err := w.WritePacket(1_700_000_000_123_456_789, []byte{0xaa, 0xbb}, 60); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes written before Flush", buf.Len())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "d4c3b2a1" + "0200" + "0400" + "00000000" + "00000000" + "00000400" + "01000000" + // header, snaplen 262144
		"00f15365" + "40e20100" + "02000000" + "3c000000" + "aabb" // 1700000000 s, 123456 µs, caplen 2, len 60
	if got := hex.EncodeToString(buf.Bytes()); got != want {
		t.Errorf("file\n got %s\nwant %s", got, want)
	}
}

// TestWriterRoundTrip writes packets and reads them back with this
// package's Reader and with pcapgo.
func TestWriterRoundTrip(t *testing.T) {
	for _, nano := range []bool{false, true} {
		var buf bytes.Buffer
		w := NewWriter(&buf, LinkTypeRaw, 1000, nano)
		var want []Packet
		for i := range 500 {
			data := bytes.Repeat([]byte{byte(i)}, i*7%1500) // some beyond the snaplen
			ts := int64(1_600_000_000+i)*1e9 + int64(i)*1_234_567
			origLen := 0
			if i%3 == 0 {
				origLen = len(data) + 100
			}
			if err := w.WritePacket(ts, data, origLen); err != nil {
				t.Fatal(err)
			}
			wantTS := ts
			if !nano {
				wantTS -= ts % 1000
			}
			caplen := min(len(data), 1000)
			want = append(want, Packet{
				Timestamp:     wantTS,
				Data:          data[:caplen],
				CaptureLength: caplen,
				Length:        max(origLen, len(data)),
				LinkType:      LinkTypeRaw,
			})
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		r := mustReader(t, buf.Bytes())
		if r.Snaplen() != 1000 || r.LinkType() != LinkTypeRaw {
			t.Errorf("Snaplen, LinkType = %d, %v", r.Snaplen(), r.LinkType())
		}
		got, err := readAll(t, r)
		if err != nil {
			t.Fatal(err)
		}
		if !packetsEqual(want, got) {
			t.Errorf("nano %v: (-written +read):\n%s", nano, cmp.Diff(want, got, cmpopts.EquateEmpty()))
		}
		oracle, err := readPcapgo(buf.Bytes())
		if err != nil {
			t.Fatalf("pcapgo: %v", err)
		}
		ours := make([]oraclePacket, len(got))
		for i, p := range got {
			ours[i] = fromPacket(p)
		}
		if !oracleEqual(oracle, ours) {
			t.Errorf("nano %v: (-pcapgo +pcapfile):\n%s", nano, cmp.Diff(oracle, ours, cmpopts.EquateEmpty()))
		}
	}
}

// TestWriterTcpdump checks that tcpdump reads what the Writer writes. It
// needs tcpdump (Debian package tcpdump) and skips without it.
func TestWriterTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed (apt-get install tcpdump): Writer output not checked with it")
	}
	// Copy the packets of a real capture into a nanosecond file.
	in, err := os.ReadFile(filepath.Join(testdataDir, "tcpdump_dns_tcp.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	r := mustReader(t, in)
	path := filepath.Join(t.TempDir(), "out.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(f, r.LinkType(), r.Snaplen(), true)
	for p, err := range r.Packets() {
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(p.Timestamp, p.Data, p.Length); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out1, err := exec.Command(tcpdump, "-n", "-tt", "--nano", "-r", filepath.Join(testdataDir, "tcpdump_dns_tcp.pcap")).Output()
	if err != nil {
		t.Fatal(err)
	}
	out2, err := exec.Command(tcpdump, "-n", "-tt", "--nano", "-r", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.Split(string(out1), "\n"), strings.Split(string(out2), "\n")); diff != "" {
		t.Errorf("tcpdump output (-original +copy):\n%s", diff)
	}
}

func TestWriterOutOfRange(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, LinkTypeEthernet, 0, true)
	for _, tc := range []struct {
		ts      int64
		origLen int
		msg     string
	}{
		{-1, 0, "pcapfile: timestamp 1969-12-31T23:59:59.999999999Z: value out of range for the pcap format"},
		{(math.MaxUint32 + 1) * 1e9, 0, "pcapfile: timestamp 2106-02-07T06:28:16Z: value out of range for the pcap format"},
		{0, int(fourGiB), "pcapfile: original length 4294967296: value out of range for the pcap format"},
	} {
		if strconv.IntSize == 32 && tc.origLen == 0 && tc.ts == 0 {
			continue // an int cannot hold 4 GiB
		}
		err := w.WritePacket(tc.ts, []byte{1}, tc.origLen)
		if !errors.Is(err, ErrOutOfRange) || err.Error() != tc.msg {
			t.Errorf("WritePacket(%d, _, %d) = %v, want %q", tc.ts, tc.origLen, err, tc.msg)
		}
	}
	// The edges of the range, and the Writer still works.
	for _, ts := range []int64{0, math.MaxUint32*1e9 + 999_999_999} {
		if err := w.WritePacket(ts, []byte{1}, 0); err != nil {
			t.Errorf("WritePacket(%d): %v", ts, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, mustReader(t, buf.Bytes()))
	if err != nil || len(got) != 2 || got[1].Timestamp != math.MaxUint32*1e9+999_999_999 {
		t.Errorf("read back %+v, %v", got, err)
	}
}

type failWriter struct {
	n   int // bytes accepted before failing
	err error
}

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) <= f.n {
		f.n -= len(p)
		return len(p), nil
	}
	n := f.n
	f.n = 0
	return n, f.err
}

func TestWriterErrors(t *testing.T) {
	boom := errors.New("boom")
	w := NewWriter(&failWriter{n: 10, err: boom}, LinkTypeEthernet, 0, false)
	if err := w.Flush(); err != boom {
		t.Errorf("Flush = %v, want boom", err)
	}
	if err := w.WritePacket(0, []byte{1}, 0); err != boom {
		t.Errorf("WritePacket after a failure = %v, want the same error", err)
	}
	w = NewWriter(&failWriter{n: 10}, LinkTypeEthernet, 0, false)
	if err := w.Flush(); err != io.ErrShortWrite {
		t.Errorf("Flush = %v, want io.ErrShortWrite", err)
	}
}

func TestWriterLargePackets(t *testing.T) {
	// Packets larger than the write buffer go straight to the io.Writer.
	var buf bytes.Buffer
	w := NewWriter(&buf, LinkTypeEthernet, 1<<20, false)
	var want [][]byte
	for i, n := range []int{100, writeBufSize, writeBufSize + 1, 200 << 10, 3, 1 << 20} {
		data := bytes.Repeat([]byte{byte(i + 1)}, n)
		want = append(want, data)
		if err := w.WritePacket(int64(i)*1e9, data, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, mustReader(t, buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d packets, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, want[i]) || got[i].Timestamp != int64(i)*1e9 {
			t.Errorf("packet %d: %d bytes at %d", i, len(got[i].Data), got[i].Timestamp)
		}
	}
}

var fourGiB uint64 = 1 << 32 // a variable: as a constant it would not compile on 32-bit
