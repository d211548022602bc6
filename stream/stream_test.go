package stream

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

var k1 = Key{SrcPort: 40000, DstPort: 443}

// TestShuffledOneByteSegments: a message cut into 1-byte segments,
// shuffled, some repeated, is whole once its last missing byte comes,
// and only then.
func TestShuffledOneByteSegments(t *testing.T) {
	msg := []byte("GET /index.html HTTP/1.1\r\nHost: a.test\r\nUser-Agent: t\r\n\r\n")
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		r := New(nil)
		r.Add(k1, 999, true, nil)
		order := rng.Perm(len(msg))
		// A third of the bytes come twice: the copy says something else.
		for _, i := range order[:len(msg)/3] {
			order = append(order, i)
		}
		grewAt := -1
		seen := map[int]bool{}
		for n, i := range order {
			head, grew := r.Add(k1, 1000+uint32(i), false, msg[i:i+1])
			if seen[i] {
				head, grew = r.Add(k1, 1000+uint32(i), false, []byte{'!'})
			}
			seen[i] = true
			if !bytes.Equal(head, msg[:len(head)]) {
				t.Fatalf("round %d: head %q is not the message's start", round, head)
			}
			if len(head) == len(msg) && grewAt < 0 {
				if !grew {
					t.Fatalf("round %d: whole without growing", round)
				}
				grewAt = n
			}
		}
		if grewAt != len(msg)-1 {
			t.Fatalf("round %d: whole at segment %d, want %d (the last new byte)", round, grewAt, len(msg)-1)
		}
	}
}

// TestMidStreamEarlierSegment: without a SYN, a segment before the
// first one seen is placed ahead of it.
func TestMidStreamEarlierSegment(t *testing.T) {
	r := New(nil)
	r.Add(k1, 5007, false, []byte("world"))
	head, _ := r.Add(k1, 5000, false, []byte("hello,"))
	if string(head) != "hello," {
		t.Fatalf("head %q", head)
	}
	head, _ = r.Add(k1, 5006, false, []byte(" "))
	if string(head) != "hello, world" {
		t.Fatalf("head %q", head)
	}
}

// TestBounds: a direction keeps at most MaxFlowBytes; all together at
// most MaxTotalBytes, the oldest going first; Done frees.
func TestBounds(t *testing.T) {
	r := New(&Config{MaxFlowBytes: 100, MaxTotalBytes: 1000})
	big := bytes.Repeat([]byte("x"), 500)
	head, _ := r.Add(k1, 1, false, big)
	if len(head) != 100 {
		t.Fatalf("head of %d bytes, limit 100", len(head))
	}
	for i := range 50 {
		k := Key{SrcPort: uint16(i)}
		r.Add(k, 1, false, big)
		if r.Buffered() > 1000 {
			t.Fatalf("%d bytes buffered, limit 1000", r.Buffered())
		}
	}
	if r.Dropped() == 0 {
		t.Error("nothing dropped")
	}
	k := Key{SrcPort: 49}
	r.Done(k)
	if head, _ := r.Add(k, 200, false, big); len(head) != 0 {
		t.Errorf("after Done: head of %d", len(head))
	}
	// A far-away sequence number is not buffered.
	if head, _ := r.Add(Key{SrcPort: 7}, 1<<31, false, big); len(head) != 100 {
		t.Errorf("head %d", len(head))
	}
	if head, _ := r.Add(Key{SrcPort: 7}, 1<<30, false, big); len(head) != 100 {
		t.Errorf("far segment changed the head: %d", len(head))
	}
}

// FuzzReassemble: any segments: no panic, memory within the bounds,
// and the head is always the stream's start where the segments agree.
func FuzzReassemble(f *testing.F) {
	f.Add([]byte("hello, world"), []byte{3, 0, 5, 1, 9, 2})
	f.Fuzz(func(t *testing.T, msg, cuts []byte) {
		r := New(&Config{MaxFlowBytes: 64, MaxTotalBytes: 512, MaxDirs: 4})
		r.Add(k1, 0xfffffff0, true, nil) // wraps around zero
		for i := 0; i+1 < len(cuts); i += 2 {
			a := int(cuts[i]) % (len(msg) + 1)
			b := min(a+int(cuts[i+1])%17, len(msg))
			k := k1
			k.SrcPort = uint16(cuts[i] % 6)
			head, _ := r.Add(k, 0xfffffff1+uint32(a), false, msg[a:b])
			if k == k1 && !bytes.Equal(head, msg[:len(head)]) {
				t.Fatalf("head %q, stream %q", head, msg)
			}
			if len(head) > 64 || r.Buffered() > 512 {
				t.Fatalf("head %d, buffered %d", len(head), r.Buffered())
			}
		}
	})
}

// TestAddNoAllocs: a segment into a direction already buffered does not
// allocate.
func TestAddNoAllocs(t *testing.T) {
	r := New(nil)
	r.Add(k1, 0, true, nil)
	r.Add(k1, 1, false, make([]byte, 1000))
	seg := make([]byte, 100)
	if n := testing.AllocsPerRun(100, func() { r.Add(k1, 500, false, seg) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
