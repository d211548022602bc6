package pcapfile

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ngPackets are packets of varied lengths (padding), with and without
// comments, one of them cut by the snapshot length.
func ngPackets() (data [][]byte, comments []string, ts []int64) {
	for i := range 7 {
		d := bytes.Repeat([]byte{byte(0x40 + i)}, 14+i*7)
		data = append(data, d)
		c := ""
		if i%3 != 2 {
			c = fmt.Sprintf("process pcap-%d/%d > -", i, 1000+i)
		}
		comments = append(comments, c)
		ts = append(ts, 1_700_000_000_123_456_789+int64(i)*1_000_001)
	}
	data = append(data, bytes.Repeat([]byte{0xee}, 300)) // cut to 200
	comments = append(comments, strings.Repeat("long ", 30))
	ts = append(ts, 1_700_000_001_000_000_000)
	return
}

func writeNg(t *testing.T) []byte {
	t.Helper()
	data, comments, ts := ngPackets()
	var b bytes.Buffer
	w := NewNgWriter(&b, LinkTypeEthernet, 200, "lo")
	for i := range data {
		if err := w.WritePacket(ts[i], data[i], 0, comments[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WritePacket(-1, data[0], 0, ""); err == nil {
		t.Error("a timestamp before 1970 was written")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestNgWriterReadBack: what NgWriter writes, the Reader reads back,
// comments and nanoseconds included.
func TestNgWriterReadBack(t *testing.T) {
	data, comments, ts := ngPackets()
	pkts, err := readAll(t, mustReader(t, writeNg(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != len(data) {
		t.Fatalf("%d packets, want %d", len(pkts), len(data))
	}
	for i, p := range pkts {
		want := data[i][:min(len(data[i]), 200)]
		if !bytes.Equal(p.Data, want) || p.Length != len(data[i]) || p.Timestamp != ts[i] || p.LinkType != LinkTypeEthernet {
			t.Errorf("packet %d: %d bytes of %d at %d (%v), want %d of %d at %d", i, len(p.Data), p.Length, p.Timestamp, p.LinkType, len(want), len(data[i]), ts[i])
		}
	}
	// Comments alias the buffer: read them one at a time.
	r := mustReader(t, writeNg(t))
	for i := 0; r.Next(); i++ {
		if got := string(r.Packet().Comment); got != comments[i] {
			t.Errorf("packet %d comment %q, want %q", i, got, comments[i])
		}
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
}

// TestNgWriterTshark: tshark accepts the file and reads the same
// packets, timestamps and comments.
func TestNgWriterTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("needs tshark (Debian package tshark)")
	}
	path := filepath.Join(t.TempDir(), "w.pcapng")
	if err := os.WriteFile(path, writeNg(t), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tshark, "-r", path, "-T", "fields", "-E", "separator=|", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.comment", "-e", "frame.interface_name")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user profile
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r: %v: %s", err, stderr.String())
	}
	data, comments, ts := ngPackets()
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(data) {
		t.Fatalf("tshark read %d packets, want %d:\n%s", len(lines), len(data), out)
	}
	for i, l := range lines {
		want := fmt.Sprintf("%d.%09d|%d|%d|%s|lo", ts[i]/1e9, ts[i]%1e9, len(data[i]), min(len(data[i]), 200), comments[i])
		if l != want {
			t.Errorf("packet %d: tshark says %q, want %q", i, l, want)
		}
	}
}
