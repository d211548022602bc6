package spa

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/cfgfile"
)

func digestOf(s string) [32]byte { return Digest(s) }

// TestReplayCacheSurvivesReopen: a digest added is in the file, synced,
// before Add returns (read back without closing the cache, as after a
// crash), and a cache opened on the file refuses it.
func TestReplayCacheSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "digest")
	now := time.Now()
	c, err := OpenReplayCache(path, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	d := digestOf("packet one")
	if err := c.Add(d, now.Unix(), now); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(d, now.Unix(), now); !errors.Is(err, ErrReplay) {
		t.Errorf("second Add: %v, want ErrReplay", err)
	}
	// No Close: the file must already hold it. A second cache on the
	// same file is refused while the first is open.
	if _, err := OpenReplayCache(path, time.Minute); err == nil || !strings.Contains(err.Error(), "in use by another SPA server") {
		t.Errorf("second open of the file: %v, want it refused as in use", err)
	}
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), hexOf(d)) {
		t.Fatalf("file after Add: %q, %v", data, err)
	}
	c.Close()
	c2, err := OpenReplayCache(path, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Add(d, now.Unix(), now); !errors.Is(err, ErrReplay) {
		t.Errorf("after reopening: Add %v, want ErrReplay", err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("file mode: %v, %v; want 0600", st, err)
	}
}

func hexOf(d [32]byte) string {
	const h = "0123456789abcdef"
	b := make([]byte, 64)
	for i, x := range d {
		b[2*i], b[2*i+1] = h[x>>4], h[x&15]
	}
	return string(b)
}

// TestReplayCacheExpiry: entries older than the window are dropped when
// the file is opened; the floor it records then refuses their packets,
// even in a cache with a wider window (they may have been forgotten).
func TestReplayCacheExpiry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "digest")
	now := time.Now()
	c, err := OpenReplayCache(path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	old, fresh := digestOf("old"), digestOf("fresh")
	oldTS := now.Add(-10 * time.Minute).Unix()
	if err := c.Add(old, oldTS, now); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(fresh, now.Unix(), now); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err = OpenReplayCache(path, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c.Seen(old) || !c.Seen(fresh) || c.Len() != 1 {
		t.Errorf("after reopening with a 1m window: old %v, fresh %v, %d entries; want only fresh", c.Seen(old), c.Seen(fresh), c.Len())
	}
	if err := c.Add(old, oldTS, now); !errors.Is(err, ErrStale) {
		t.Errorf("an expired packet: %v, want ErrStale", err)
	}
	c.Close()
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), hexOf(old)) {
		t.Errorf("the file still has the expired entry:\n%s", data)
	}
	c, err = OpenReplayCache(path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Add(old, oldTS, now); !errors.Is(err, ErrStale) {
		t.Errorf("a forgotten packet with a wider window: %v, want ErrStale", err)
	}
	if !c.Seen(fresh) {
		t.Error("the fresh entry was lost")
	}
}

// TestReplayCacheCompacts: the file is rewritten without the expired
// entries as it grows, while running.
func TestReplayCacheCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "digest")
	now := time.Now()
	c, err := OpenReplayCache(path, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var d [32]byte
	for i := range 1024 {
		d[0], d[1] = byte(i), byte(i>>8)
		if err := c.Add(d, now.Add(-50*time.Second).Unix(), now); err != nil {
			t.Fatal(err)
		}
	}
	later := now.Add(20 * time.Second)
	if err := c.Add(digestOf("new"), later.Unix(), later); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n > 4 || !strings.Contains(string(data), hexOf(digestOf("new"))) {
		t.Errorf("after the old entries expired, the file has %d lines, want the header, the floor and the new entry:\n%.300s", n, data)
	}
}

// TestReplayCacheBounded: a cache holds at most MaxReplayEntries live
// entries; past that it refuses (ErrDigestCache) rather than forget one,
// and once entries age out it takes new ones again.
func TestReplayCacheBounded(t *testing.T) {
	now := time.Now()
	c, err := OpenReplayCache("", time.Minute) // in memory: 65536 syncs would be slow
	if err != nil {
		t.Fatal(err)
	}
	var d [32]byte
	for i := range MaxReplayEntries {
		d[0], d[1], d[2] = byte(i), byte(i>>8), byte(i>>16)
		if err := c.Add(d, now.Unix(), now); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	d[3] = 1
	if err := c.Add(d, now.Unix(), now); !errors.Is(err, ErrDigestCache) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("one more: %v, want ErrDigestCache (full)", err)
	}
	later := now.Add(2 * time.Minute)
	if err := c.Add(d, later.Unix(), later); err != nil {
		t.Fatalf("after the entries aged out: %v", err)
	}
	if c.Len() != 1 {
		t.Errorf("%d entries after the old ones aged out, want 1", c.Len())
	}
}

// TestReplayCacheFileKinds: the digest file must be a regular file: a
// FIFO, /dev/zero or a directory is refused, with one line naming it,
// and never read (the FIFO would block, /dev/zero never end).
func TestReplayCacheFileKinds(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "not a regular file (a named pipe)"},
		{"/dev/zero", "not a regular file (a character device)"},
		{dir, "not a regular file (a directory)"},
	} {
		c, err := OpenReplayCache(tc.path, 0)
		if err == nil {
			c.Close()
			t.Errorf("%s: accepted", tc.path)
			continue
		}
		var ce *cfgfile.Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.path+": "+tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %q, want one line with %q", tc.path, err, tc.want)
		}
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, ReplayFileLimit+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReplayCache(big, 0); !errors.Is(err, cfgfile.ErrTooLarge) {
		t.Errorf("a file over the limit: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("floor 1\nnot a digest\n"), 0o600)
	if _, err := OpenReplayCache(bad, 0); err == nil || !strings.Contains(err.Error(), bad+":2: ") {
		t.Errorf("a bad line: %v, want it named with its line", err)
	}
}

// TestReplayCacheWriteFailure: when the file cannot be written, Add
// refuses (the packet must not be granted unrecorded).
func TestReplayCacheWriteFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "digest")
	c, err := OpenReplayCache(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.f.Close() // as if the disk failed: writes return an error
	now := time.Now()
	if err := c.Add(digestOf("x"), now.Unix(), now); !errors.Is(err, ErrDigestCache) {
		t.Errorf("Add with a failing file: %v, want ErrDigestCache", err)
	}
}
