package scan

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"sync/atomic"
)

// This file holds the pure parts of the SYN scan: the keyed cookie that
// the probes carry as their sequence number, the permutation that orders
// and shards the probes, and the 2-bit state of each probe.

// sipKey is a SipHash-2-4 key.
type sipKey [2]uint64

// sipRound is one SipRound of SipHash (Aumasson and Bernstein, 2012).
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// sum64 is SipHash-2-4 of a message of whole 8-byte words m plus a
// length byte, as the reference implementation computes it for a message
// of len(m)*8 bytes.
func (k sipKey) sum64(m ...uint64) uint64 {
	v0 := k[0] ^ 0x736f6d6570736575
	v1 := k[1] ^ 0x646f72616e646f6d
	v2 := k[0] ^ 0x6c7967656e657261
	v3 := k[1] ^ 0x7465646279746573
	for _, w := range m {
		v3 ^= w
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= w
	}
	b := uint64(len(m)*8) << 56
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// cookie is the initial sequence number of the SYN from src:sport to
// dst:dport: 32 bits of SipHash-2-4 over both 16-byte addresses (IPv4 as
// IPv4-mapped) and both ports. A SYN-ACK must acknowledge cookie+1, and
// the RST a closed port sends back acknowledges the same.
func (k sipKey) cookie(src, dst netip.Addr, sport, dport uint16) uint32 {
	s, d := src.As16(), dst.As16()
	h := k.sum64(
		binary.LittleEndian.Uint64(s[:8]), binary.LittleEndian.Uint64(s[8:]),
		binary.LittleEndian.Uint64(d[:8]), binary.LittleEndian.Uint64(d[8:]),
		uint64(sport)<<16|uint64(dport))
	return uint32(h) ^ uint32(h>>32)
}

// permutation is a keyed pseudo-random permutation of [0, n): a
// four-round balanced Feistel network on the smallest even number of
// bits that holds n-1, with cycle walking (Black and Rogaway, 2002) to
// stay below n. It needs no table, so a scan of 2^40 probes costs no more
// memory than one of 10; inverse undoes it.
type permutation struct {
	n    uint64
	half uint   // bits per Feistel half
	mask uint64 // (1<<half)-1
	key  sipKey
}

func newPermutation(n uint64, seed uint64) permutation {
	b := uint(bits.Len64(max(n, 2) - 1))
	b += b & 1
	h := b / 2
	p := permutation{n: n, half: h, mask: 1<<h - 1}
	// The key is derived from the seed alone, so a seed gives the same
	// order on every machine.
	p.key = sipKey{splitmix(seed), splitmix(seed ^ 0x9e3779b97f4a7c15)}
	return p
}

// splitmix is the SplitMix64 finaliser.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (p *permutation) f(round, x uint64) uint64 {
	return p.key.sum64(round<<32^x) & p.mask
}

func (p *permutation) feistel(x uint64) uint64 {
	l, r := x>>p.half, x&p.mask
	for i := range uint64(4) {
		l, r = r, l^p.f(i, r)
	}
	return l<<p.half | r
}

func (p *permutation) unfeistel(x uint64) uint64 {
	l, r := x>>p.half, x&p.mask
	for i := uint64(4); i > 0; i-- {
		l, r = r^p.f(i-1, l), l
	}
	return l<<p.half | r
}

// at returns the element at position k < n.
func (p *permutation) at(k uint64) uint64 {
	x := p.feistel(k)
	for x >= p.n {
		x = p.feistel(x)
	}
	return x
}

// inverse returns the position of element x < n.
func (p *permutation) inverse(x uint64) uint64 {
	k := p.unfeistel(x)
	for k >= p.n {
		k = p.unfeistel(k)
	}
	return k
}

// shardOrder is the part of a permutation one shard scans: shard i
// (0-based) of m takes the positions i, i+m, i+2m... so the shards are
// disjoint and together cover every element.
type shardOrder struct {
	perm   permutation
	shard  uint64 // 0-based
	shards uint64
	len    uint64 // positions in this shard
}

func newShardOrder(n, seed uint64, shard, shards uint64) shardOrder {
	o := shardOrder{perm: newPermutation(n, seed), shard: shard, shards: shards}
	if n > shard {
		o.len = (n-shard-1)/shards + 1
	}
	return o
}

// at returns the element at position j < o.len of the shard.
func (o *shardOrder) at(j uint64) uint64 { return o.perm.at(j*o.shards + o.shard) }

// position returns the position in the shard of element x, and false if
// another shard holds it.
func (o *shardOrder) position(x uint64) (uint64, bool) {
	k := o.perm.inverse(x)
	if k%o.shards != o.shard {
		return 0, false
	}
	return k / o.shards, true
}

// Probe states, two bits each in a stateMap.
const (
	probePending uint64 = iota // not answered yet
	probeOpen                  // SYN-ACK
	probeClosed                // RST
	probeDone                  // ICMP error, or finished in an earlier run (resume)
)

// stateMap holds 2 bits of state per probe, updated atomically.
type stateMap []atomic.Uint64

func newStateMap(n uint64) stateMap { return make(stateMap, (n+31)/32) }

func (m stateMap) get(i uint64) uint64 { return m[i/32].Load() >> (i % 32 * 2) & 3 }

// finish moves probe i from pending to st, and reports whether it was
// pending: only one reply per probe counts.
func (m stateMap) finish(i, st uint64) bool {
	w := &m[i/32]
	sh := i % 32 * 2
	for {
		old := w.Load()
		if old>>sh&3 != probePending {
			return false
		}
		if w.CompareAndSwap(old, old|st<<sh) {
			return true
		}
	}
}
