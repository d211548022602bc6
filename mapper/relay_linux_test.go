//go:build linux && !race

package mapper

import (
	"net"
	"testing"
)

// TestChunkReaderNoAllocs: a relay's small read allocates nothing (the
// race detector's sync.Pool drops buffers, hence !race).
func TestChunkReaderNoAllocs(t *testing.T) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.DialTCP("tcp", nil, l.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rc, err := s.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	cr := &chunkReader{rc: rc}
	msg := []byte("0123456789abcdef0123456789abcdef")
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := 0
		for got < len(msg) {
			bp, n, err := cr.read()
			if err != nil {
				t.Fatal(err)
			}
			if string((*bp)[:n]) != string(msg[got:got+n]) {
				t.Fatalf("read %q, want a part of %q", (*bp)[:n], msg)
			}
			got += n
			smallBufs.Put(bp)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per read, want 0", allocs)
	}
}
