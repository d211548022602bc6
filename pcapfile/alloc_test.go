package pcapfile

import (
	"bytes"
	"io"
	"testing"
)

// genPcap returns a pcap file of n packets of size bytes, written with
// Writer.
func genPcap(n, size int) []byte {
	var buf bytes.Buffer
	buf.Grow(24 + n*(16+size))
	w := NewWriter(&buf, LinkTypeEthernet, 0, false)
	data := make([]byte, size)
	for i := range n {
		data[0] = byte(i)
		if err := w.WritePacket(int64(1_700_000_000+i)*1e9+int64(i%1e6)*1e3, data, 0); err != nil {
			panic(err) // a bytes.Buffer does not fail
		}
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// genPcapng returns a pcapng file of n Enhanced Packet Blocks of size
// bytes, each with an epb_flags option, as Wireshark writes them.
func genPcapng(n, size int) []byte {
	var g ngBuilder
	g.b = make([]byte, 0, 64+n*(40+size))
	g.shb(false).idb(LinkTypeEthernet, 262144, opt(ngOptTSResol, []byte{6}), opt(0, nil))
	data := make([]byte, size)
	flags := opt(2, []byte{1, 0, 0, 0})
	end := opt(0, nil)
	for i := range n {
		data[0] = byte(i)
		g.epb(0, uint64(1_700_000_000+i)*1e6+uint64(i%1e6), data, uint32(size), flags, end)
	}
	return g.b
}

// TestNoAllocs checks that reading a packet allocates nothing, whichever
// API reads it, once the Reader exists.
func TestNoAllocs(t *testing.T) {
	const n = 5000
	for _, f := range []struct {
		name string
		in   []byte
	}{
		{"pcap", genPcap(n, 128)},
		{"pcapng", genPcapng(n, 128)},
	} {
		t.Run(f.name+"/ReadPacket", func(t *testing.T) {
			r := mustReader(t, f.in)
			allocs := testing.AllocsPerRun(n/2, func() {
				if _, err := r.ReadPacket(); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per packet, want 0", allocs)
			}
		})
		t.Run(f.name+"/Next", func(t *testing.T) {
			r := mustReader(t, f.in)
			allocs := testing.AllocsPerRun(n/2, func() {
				if !r.Next() {
					t.Fatal(r.Err())
				}
				_ = r.Packet()
			})
			if allocs != 0 {
				t.Errorf("%v allocations per packet, want 0", allocs)
			}
		})
		t.Run(f.name+"/Packets", func(t *testing.T) {
			// A whole file per run: the Reader and the iterator are
			// allocated once, the n packets not at all.
			src := bytes.NewReader(f.in)
			allocs := testing.AllocsPerRun(5, func() {
				src.Reset(f.in)
				r, err := NewReader(src)
				if err != nil {
					t.Fatal(err)
				}
				k := 0
				for _, err := range r.Packets() {
					if err != nil {
						t.Fatal(err)
					}
					k++
				}
				if k != n {
					t.Fatalf("%d packets, want %d", k, n)
				}
			})
			if allocs > 5 {
				t.Errorf("%v allocations for %d packets, want at most 5 (Reader, buffer, iterator)", allocs, n)
			}
		})
	}
	t.Run("WritePacket", func(t *testing.T) {
		w := NewWriter(io.Discard, LinkTypeEthernet, 0, true)
		data := make([]byte, 1500)
		allocs := testing.AllocsPerRun(1000, func() {
			if err := w.WritePacket(1e18, data, 0); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v allocations per packet, want 0", allocs)
		}
	})
}
