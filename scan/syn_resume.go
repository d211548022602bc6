package scan

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"

	"github.com/portkit/ports"
)

// Resuming a SYN scan: the state a checkpoint holds, and how a scan
// picks up from it.

// SYNProgress is where a SYN scan stands, for [SYNConfig.Resume]. It is
// small and meant to be written as JSON: the pairs already delivered are
// one bit each.
type SYNProgress struct {
	Version     int    `json:"version"`     // 1
	Seed        uint64 `json:"seed"`        // the scan's seed
	Shard       int    `json:"shard"`       // 1-based
	Shards      int    `json:"shards"`      //
	Total       uint64 `json:"total"`       // targets × ports
	Fingerprint string `json:"fingerprint"` // SHA-256 of the targets and ports, hex, first 16 bytes
	Round       int    `json:"round"`       // the round being sent, from 0
	Next        uint64 `json:"next"`        // the next position of that round to send
	Done        []byte `json:"done"`        // bit i set: the result of pair i was delivered
	Finished    bool   `json:"finished"`    // the scan ended by itself
}

// ErrResume reports a SYNConfig.Resume that does not fit the scan.
var ErrResume = errors.New("scan: the resume state is for another scan (seed, shard, targets or ports differ)")

// bitmap is one bit per pair.
type bitmap []byte

func newBitmap(n uint64) bitmap    { return make(bitmap, (n+7)/8) }
func (b bitmap) set(i uint64)      { b[i/8] |= 1 << (i % 8) }
func (b bitmap) has(i uint64) bool { return b[i/8]&(1<<(i%8)) != 0 }

// resume takes up the scan where r says it stood: the pairs delivered
// are decided, and the round and position are r's. It returns ErrResume
// if r is for another scan.
func (s *synScanner) resume(r *SYNProgress) error {
	if r.Version != 1 || r.Seed != s.cfg.Seed || r.Shard != s.cfg.Shard || r.Shards != s.cfg.Shards ||
		r.Total != s.total || r.Fingerprint != s.fprint || uint64(len(r.Done)) != (s.total+7)/8 {
		return ErrResume
	}
	done := bitmap(r.Done)
	for i := range s.total {
		if done.has(i) {
			s.state.finish(i, probeDone)
			if _, mine := s.order.position(i); mine {
				s.pending.Add(-1)
			}
		}
	}
	s.round.Store(int64(r.Round))
	s.next.Store(r.Next)
	return nil
}

// index is the pair a result names.
func (s *synScanner) index(r Result) uint64 {
	return uint64(s.hostIdx[r.Addr])*s.np + uint64(s.pidx[r.Port])
}

// fingerprint identifies the targets and ports of a scan.
func fingerprint(hosts []netip.Addr, pl []ports.Port) string {
	h := sha256.New()
	for _, a := range hosts {
		b, _ := a.MarshalBinary()
		h.Write(b)
		h.Write([]byte{0xff})
	}
	for _, p := range pl {
		h.Write([]byte{byte(p >> 8), byte(p)})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (c *SYNConfig) resumeRound() int {
	if c.Resume != nil {
		return c.Resume.Round
	}
	return 0
}

func (s *synScanner) progress(delivered bitmap, finished bool) *SYNProgress {
	return &SYNProgress{Version: 1, Seed: s.cfg.Seed, Shard: s.cfg.Shard, Shards: s.cfg.Shards,
		Total: s.total, Fingerprint: s.fprint, Round: int(s.round.Load()), Next: s.next.Load(),
		Done: slices.Clone(delivered), Finished: finished}
}
