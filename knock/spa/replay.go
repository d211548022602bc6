package spa

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ReplayCache remembers the SHA-256 digests of the packets accepted, so
// that a packet is accepted once. With a file, it survives restarts: each
// digest is appended, as a line "HEX UNIXTIME", as soon as it is added.
// Entries older than Keep are dropped when the file is opened (a packet
// that old fails the timestamp check anyway).
type ReplayCache struct {
	mu   sync.Mutex
	seen map[[32]byte]int64
	f    *os.File
}

// DefaultKeep is how long OpenReplayCache keeps entries: well past the
// widest timestamp window.
const DefaultKeep = 24 * time.Hour

// OpenReplayCache opens (creating it, mode 0600) the cache file path;
// "" keeps the cache in memory only. keep 0 means DefaultKeep.
func OpenReplayCache(path string, keep time.Duration) (*ReplayCache, error) {
	c := &ReplayCache{seen: make(map[[32]byte]int64)}
	if path == "" {
		return c, nil
	}
	if keep <= 0 {
		keep = DefaultKeep
	}
	cut := time.Now().Add(-keep).Unix()
	if data, err := os.ReadFile(path); err == nil {
		for n, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			h, ts, ok := strings.Cut(line, " ")
			d, err1 := hex.DecodeString(h)
			t, err2 := strconv.ParseInt(ts, 10, 64)
			if !ok || err1 != nil || err2 != nil || len(d) != 32 {
				return nil, fmt.Errorf("replay cache %s:%d: not \"HEX UNIXTIME\"", path, n+1)
			}
			if t >= cut {
				c.seen[[32]byte(d)] = t
			}
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	// Rewrite without the expired entries, then append.
	var b strings.Builder
	for d, t := range c.seen {
		fmt.Fprintf(&b, "%x %d\n", d, t)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	c.f = f
	return c, nil
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

// Add records d; it reports false if d was already there. The line is
// written to the file before Add returns.
func (c *ReplayCache) Add(d [32]byte, now time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[d]; ok {
		return false, nil
	}
	c.seen[d] = now.Unix()
	if c.f != nil {
		if _, err := fmt.Fprintf(c.f, "%x %d\n", d, now.Unix()); err != nil {
			return true, err
		}
		return true, c.f.Sync()
	}
	return true, nil
}

// Close closes the file.
func (c *ReplayCache) Close() error {
	if c.f == nil {
		return nil
	}
	return c.f.Close()
}
