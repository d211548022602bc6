package spa

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portkit/ports/internal/cfgfile"
)

// MaxReplayEntries bounds a ReplayCache: the packets accepted whose
// timestamps are still within the age window. A cache that is full
// refuses packets (a packet it could not record could be replayed)
// until entries age out.
const MaxReplayEntries = 1 << 16

// ReplayFileLimit is the largest digest file OpenReplayCache reads: the
// file is compacted long before (at about twice its live entries, each
// line under 80 bytes).
const ReplayFileLimit = 16 << 20

// ErrDigestCache is the cause of a refusal because the replay cache
// could not record the packet (full, or its file cannot be written): the
// packet is refused rather than granted unrecorded.
var ErrDigestCache = errors.New("spa: the digest cache cannot record the packet")

// ReplayCache remembers the SHA-256 digests of the packets accepted, so
// that a packet is accepted once. With a file, it survives restarts and
// crashes: each digest is appended to the file, as a line "HEX
// TIMESTAMP" (the packet's timestamp), and the file synced to disk
// before Add returns, so before the packet is granted anything.
//
// An entry lives for the age window after its packet's timestamp (past
// that, the packet fails the timestamp check anyway). Expired entries
// are dropped in memory and the file rewritten (to a temporary file,
// synced, then renamed over it) when it has grown to about twice the
// live entries. The cache remembers the oldest timestamp it may have
// forgotten (a "floor" line): packets older than that are refused, so
// that a server restarted with a wider window cannot accept a packet
// whose entry an earlier, narrower window dropped.
//
// A file is used by one cache at a time: a second one (in this process
// or another) is refused while the first is open.
type ReplayCache struct {
	mu      sync.Mutex
	seen    map[[32]byte]int64 // digest -> packet timestamp
	floor   int64              // packets with a timestamp before this are refused
	window  time.Duration
	lines   int // lines added since the last compaction (or in the file)
	pruneAt int

	path string
	f    *os.File
	lock *os.File
}

// OpenReplayCache opens the digest file path (creating it, mode 0600;
// its directory must exist) for a server whose packets may be window
// old (0 means DefaultMaxAge); "" keeps the cache in memory only. The
// file must be a regular file of at most ReplayFileLimit bytes.
func OpenReplayCache(path string, window time.Duration) (*ReplayCache, error) {
	c := newReplayCache(window)
	if path == "" {
		return c, nil
	}
	if err := c.attach(path, time.Now()); err != nil {
		return nil, err
	}
	return c, nil
}

func newReplayCache(window time.Duration) *ReplayCache {
	if window <= 0 {
		window = DefaultMaxAge
	}
	return &ReplayCache{seen: make(map[[32]byte]int64), window: window, pruneAt: 1024}
}

// widen makes the cache keep entries for at least window.
func (c *ReplayCache) widen(window time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.window = max(c.window, window)
}

// attach loads the file at path into the cache (entries already in
// memory stay), rewrites it without the expired entries and keeps it
// open for appending.
func (c *ReplayCache) attach(path string, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil {
		return fmt.Errorf("digest file %s: the cache already has %s", path, c.path)
	}
	// Refuse what is not a regular file before taking the lock beside it.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		_, err := cfgfile.Read(path, ReplayFileLimit)
		return fmt.Errorf("digest file %w", err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()
	data, err := cfgfile.Read(path, ReplayFileLimit)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("digest file %w", err)
	}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		h, ts, _ := strings.Cut(line, " ")
		t, err := strconv.ParseInt(ts, 10, 64)
		if h == "floor" && err == nil {
			c.floor = max(c.floor, t)
			continue
		}
		d, herr := hex.DecodeString(h)
		if err != nil || herr != nil || len(d) != 32 {
			return fmt.Errorf("digest file %s:%d: not \"HEX TIMESTAMP\" (a SHA-256 in hex and a Unix time)", path, n+1)
		}
		if old, dup := c.seen[[32]byte(d)]; !dup || t > old {
			c.seen[[32]byte(d)] = t
		}
	}
	c.path, c.lock = path, lock
	c.prune(now)
	if err := c.rewrite(); err != nil {
		c.path, c.lock = "", nil
		return err
	}
	ok = true
	return nil
}

// detach closes the file; the cache goes on in memory.
func (c *ReplayCache) detach() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if c.f != nil {
		err = c.f.Close()
	}
	if c.lock != nil {
		c.lock.Close()
	}
	c.f, c.lock, c.path = nil, nil, ""
	return err
}

// prune drops the entries older than the window and raises the floor.
func (c *ReplayCache) prune(now time.Time) {
	cut := now.Add(-c.window).Unix()
	c.floor = max(c.floor, cut)
	for d, t := range c.seen {
		if t < c.floor {
			delete(c.seen, d)
		}
	}
	c.lines = len(c.seen)
	c.pruneAt = max(2*len(c.seen), 1024)
}

// rewrite replaces the file with the floor and the live entries: a
// temporary file in the same directory, synced, renamed over it, and the
// directory synced, so that a crash leaves the old file or the new one.
func (c *ReplayCache) rewrite() error {
	if c.path == "" {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("# ports SPA digest cache: the SHA-256 of each packet accepted and its timestamp\n")
	fmt.Fprintf(&b, "floor %d\n", c.floor)
	for d, t := range c.seen {
		fmt.Fprintf(&b, "%x %d\n", d, t)
	}
	dir := filepath.Dir(c.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(c.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("digest file %s: %w", c.path, unwrapPath(err))
	}
	_, err = tmp.Write(b.Bytes())
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), c.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("digest file %s: %w", c.path, unwrapPath(err))
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	f, err := os.OpenFile(c.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("digest file %s: %w", c.path, unwrapPath(err))
	}
	if c.f != nil {
		c.f.Close()
	}
	c.f = f
	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// Digest is the cache key of a packet: SHA-256 of its bytes, as fwknopd
// keys its digest cache on the raw packet.
func Digest(packet string) [32]byte { return sha256.Sum256([]byte(packet)) }

// Seen reports whether d is in the cache.
func (c *ReplayCache) Seen(d [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.seen[d]
	return ok
}

// Len is the number of entries.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// Add records d, the digest of a packet with timestamp ts (Unix
// seconds). It returns nil once d is recorded (with a file: written and
// synced); an error wrapping ErrReplay if d was there already, ErrStale
// if ts is older than what the cache remembers, or ErrDigestCache if it
// cannot record d (full, or the file failed). The caller must not grant
// anything unless Add returned nil.
func (c *ReplayCache) Add(d [32]byte, ts int64, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[d]; ok {
		return ErrReplay
	}
	if ts < c.floor {
		return fmt.Errorf("%w: older than what the digest cache remembers (%s)", ErrStale, time.Unix(c.floor, 0).UTC().Format(time.RFC3339))
	}
	if c.lines >= c.pruneAt || len(c.seen) >= MaxReplayEntries {
		c.prune(now)
		if err := c.rewrite(); err != nil {
			return fmt.Errorf("%w: %v", ErrDigestCache, err)
		}
		if ts < c.floor {
			return fmt.Errorf("%w: older than what the digest cache remembers", ErrStale)
		}
	}
	if len(c.seen) >= MaxReplayEntries {
		return fmt.Errorf("%w: it is full (%d packets within the age window of %v)", ErrDigestCache, len(c.seen), c.window)
	}
	// Remembered even if the write fails: the packet is refused then,
	// and so is a second copy.
	c.seen[d] = ts
	c.lines++
	if c.f != nil {
		_, err := fmt.Fprintf(c.f, "%x %d\n", d, ts)
		if err == nil {
			err = c.f.Sync()
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrDigestCache, c.path, unwrapPath(err))
		}
	}
	return nil
}

// Close closes the file.
func (c *ReplayCache) Close() error { return c.detach() }
