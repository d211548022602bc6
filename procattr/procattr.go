package procattr

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/socktable"
	"github.com/portkit/ports/wire"
)

// Process is the owner of a socket: socktable's Process.
type Process = socktable.Process

// Attribution names the processes at the two ends of a packet: Src owns
// the socket that sent it, Dst the socket that receives it. Either is
// nil when no socket of this machine (or namespace) is at that end.
type Attribution struct {
	Src, Dst *Process
}

// Any reports whether a local process is at either end.
func (a Attribution) Any() bool { return a.Src != nil || a.Dst != nil }

// Config configures New. A nil *Config means the zero value.
type Config struct {
	// NetNS looks sockets up in another network namespace (as
	// socktable.Options.NetNS); "" is the caller's.
	NetNS string
	// MaxFlows bounds the flows remembered; 0 means DefaultMaxFlows.
	MaxFlows int
	// NegativeTTL is how long an end found without a socket is
	// remembered as such before it is asked again; 0 means one second.
	NegativeTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultMaxFlows is Config.MaxFlows when 0.
const DefaultMaxFlows = 65536

// maxUnowned bounds the inodes remembered as held by no process.
const maxUnowned = 4096

// maxInodes bounds the inode index between full walks of /proc.
const maxInodes = 1 << 18

// maxHot is how many recent owners are read again first on a miss.
const maxHot = 16

// Stats counts a Source's work.
type Stats struct {
	Flows     uint64 // new flows (or ends) looked up
	Lookups   uint64 // sock_diag requests
	Found     uint64 // ends that had a process
	HotScans  uint64 // reads of a recent owner's fds, on an index miss
	FullScans uint64 // walks of all of /proc, on a miss the recent owners did not resolve
	NoSocket  uint64 // ends without a socket (not local, or already gone)
	Closed    uint64 // ends whose socket no longer had a file (TIME-WAIT, closed by its process)
	NoOwner   uint64 // ends whose socket's inode no process held
}

type endKey struct {
	proto         ports.Proto
	local, remote netip.AddrPort
}

type endVal struct {
	proc  *Process // nil: no socket or no owner
	until time.Time
}

// Source attributes packets to processes. It starts no goroutine; its
// methods are safe for concurrent use (lookups are serialized).
type Source struct {
	cfg    Config
	finder *socktable.Finder

	mu      sync.Mutex
	ends    map[endKey]endVal
	inodes  map[uint64]int // socket inode -> pid
	unowned map[uint64]bool
	procs   map[int]*Process
	hot     []int // pids that owned recent sockets, most recent first
	stats   Stats
}

// New opens a Source. It fails where sockets cannot be looked up (not
// Linux, or netlink refused).
func New(cfg *Config) (*Source, error) {
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	if c.MaxFlows <= 0 {
		c.MaxFlows = DefaultMaxFlows
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	f, err := socktable.OpenFinder(c.NetNS)
	if err != nil {
		return nil, err
	}
	return &Source{cfg: c, finder: f, ends: map[endKey]endVal{}, inodes: map[uint64]int{},
		unowned: map[uint64]bool{}, procs: map[int]*Process{}}, nil
}

// Close releases the Source's netlink socket.
func (s *Source) Close() error { return s.finder.Close() }

// Stats returns the counts so far.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Packet attributes a decoded TCP or UDP packet; other packets get the
// zero Attribution. A TCP SYN without ACK looks its ends up again (a new
// connection on a reused 4-tuple may be another process's).
func (s *Source) Packet(ctx context.Context, p *wire.Packet) Attribution {
	var proto ports.Proto
	var sp, dp ports.Port
	fresh := false
	switch {
	case p.Layers.Has(wire.LayerTCP):
		proto, sp, dp = ports.ProtoTCP, p.TCP.SrcPort, p.TCP.DstPort
		fresh = p.TCP.Flags.Has(wire.TCPSyn) && !p.TCP.Flags.Has(wire.TCPAck)
	case p.Layers.Has(wire.LayerUDP):
		proto, sp, dp = ports.ProtoUDP, p.UDP.SrcPort, p.UDP.DstPort
	default:
		return Attribution{}
	}
	src := netip.AddrPortFrom(p.IP.Src, uint16(sp))
	dst := netip.AddrPortFrom(p.IP.Dst, uint16(dp))
	return s.flow(ctx, proto, src, dst, fresh)
}

// Flow attributes a packet of proto from src to dst.
func (s *Source) Flow(ctx context.Context, proto ports.Proto, src, dst netip.AddrPort) Attribution {
	return s.flow(ctx, proto, src, dst, false)
}

func (s *Source) flow(ctx context.Context, proto ports.Proto, src, dst netip.AddrPort, fresh bool) Attribution {
	if proto != ports.ProtoTCP && proto != ports.ProtoUDP || !src.Addr().IsValid() || !dst.Addr().IsValid() {
		return Attribution{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return Attribution{
		Src: s.end(ctx, endKey{proto, src, dst}, fresh),
		Dst: s.end(ctx, endKey{proto, dst, src}, fresh),
	}
}

// Owner returns the process owning the socket at local that talks to
// remote (or would get remote's packet), or nil if there is none.
func (s *Source) Owner(ctx context.Context, proto ports.Proto, local, remote netip.AddrPort) *Process {
	if proto != ports.ProtoTCP && proto != ports.ProtoUDP || !local.Addr().IsValid() || !remote.Addr().IsValid() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.end(ctx, endKey{proto, local, remote}, false)
}

// end resolves one end, from the cache when it can. s.mu is held.
func (s *Source) end(ctx context.Context, k endKey, fresh bool) *Process {
	now := s.cfg.Now()
	if v, ok := s.ends[k]; ok && !fresh && (v.proc != nil || now.Before(v.until)) {
		return v.proc
	}
	if len(s.ends) >= s.cfg.MaxFlows {
		clear(s.ends)
	}
	s.stats.Flows++
	p := s.resolve(ctx, k)
	s.ends[k] = endVal{proc: p, until: now.Add(s.cfg.NegativeTTL)}
	if p != nil {
		s.stats.Found++
	}
	return p
}

// resolve asks the kernel for k's socket and finds its owner.
func (s *Source) resolve(ctx context.Context, k endKey) *Process {
	sock, err := s.find(k.proto, k.local, k.remote)
	if err != nil {
		s.stats.NoSocket++
		return nil
	}
	if sock.Inode == 0 && k.proto == ports.ProtoTCP && !closing(sock.State) {
		// A connection not yet accepted (a request, or established in
		// the accept queue) has no file: its listener's process is the
		// one that will accept it.
		any := netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
		if k.local.Addr().Is4() {
			any = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		}
		if sock, err = s.find(k.proto, k.local, any); err != nil {
			s.stats.NoSocket++
			return nil
		}
	}
	if sock.Inode == 0 {
		s.stats.Closed++
		return nil
	}
	p := s.ownerOf(ctx, sock.Inode)
	if p == nil {
		s.stats.NoOwner++
	}
	return p
}

// closing reports whether a TCP socket in state st may have been closed
// by its process, so that it has no file for good.
func closing(st socktable.State) bool {
	switch st {
	case socktable.StateTimeWait, socktable.StateFinWait1, socktable.StateFinWait2,
		socktable.StateClosing, socktable.StateLastAck, socktable.StateClose:
		return true
	}
	return false
}

func (s *Source) find(proto ports.Proto, local, remote netip.AddrPort) (socktable.Socket, error) {
	s.stats.Lookups++
	sock, err := s.finder.Find(proto, local, remote)
	if err != nil {
		return sock, err
	}
	// A wildcard socket (a listener on 0.0.0.0) matches any destination
	// address, including one that is not ours: a forwarded packet to
	// the listener's port. Only an exact or a local address counts.
	if la := sock.Local.Addr(); !la.IsUnspecified() && la.Unmap() != local.Addr().Unmap() {
		return socktable.Socket{}, errors.New("procattr: socket of another address")
	}
	return sock, nil
}

// ownerOf finds the process holding inode through the index, refreshing
// it on a miss: first the recent owners, then all of /proc.
func (s *Source) ownerOf(ctx context.Context, inode uint64) *Process {
	pid, ok := s.inodes[inode]
	// The recent owners one at a time, most recent first: the socket
	// is most often the last owner's, and one fd table is cheap.
	for i := 0; !ok && !s.unowned[inode] && i < len(s.hot); i++ {
		s.stats.HotScans++
		s.scan(ctx, s.hot[i:i+1])
		pid, ok = s.inodes[inode]
	}
	if !ok && !s.unowned[inode] {
		s.stats.FullScans++
		clear(s.inodes)
		clear(s.procs)
		s.scan(ctx, nil)
		pid, ok = s.inodes[inode]
		if !ok {
			if len(s.unowned) >= maxUnowned {
				clear(s.unowned)
			}
			s.unowned[inode] = true
		}
	}
	if !ok {
		return nil
	}
	p := s.procs[pid]
	if p == nil {
		rp, err := socktable.ReadProcess(pid)
		if err != nil {
			delete(s.inodes, inode)
			return nil
		}
		p = &rp
		s.procs[pid] = p
	}
	s.touch(pid)
	return p
}

func (s *Source) scan(ctx context.Context, pids []int) {
	if len(s.inodes) >= maxInodes {
		clear(s.inodes) // closed sockets' inodes, gathered by recent-owner scans
	}
	_ = socktable.WalkSocketInodes(ctx, pids, func(pid int, ino uint64) {
		if _, ok := s.inodes[ino]; !ok {
			s.inodes[ino] = pid
		}
	})
}

// touch moves pid to the front of the recent owners.
func (s *Source) touch(pid int) {
	for i, p := range s.hot {
		if p == pid {
			copy(s.hot[1:i+1], s.hot[:i])
			s.hot[0] = pid
			return
		}
	}
	if len(s.hot) < maxHot {
		s.hot = append(s.hot, 0)
	}
	copy(s.hot[1:], s.hot)
	s.hot[0] = pid
}
