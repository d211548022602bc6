package procattr

import (
	"context"
	"errors"
	"net/netip"
	"slices"
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

// listenerTTL is how long a TCP address where a SYN found no socket is
// taken to have no listener (see Source.end).
const listenerTTL = 100 * time.Millisecond

// maxUnowned bounds the inodes remembered as held by no process.
const maxUnowned = 4096

// maxInodes bounds the inode index between full walks of /proc.
const maxInodes = 1 << 18

// maxHot is how many recent owners are read again first on a miss
// (each holds its /proc/PID/fd directory open).
const maxHot = 16

// maxProbes bounds the descriptors of one recent owner read one by one
// on a miss, before its whole table is read; probeSlack is how far past
// the highest descriptor seen they go.
const (
	maxProbes  = 32
	probeSlack = 4
)

// hitsHalfLife is how many searches halve the recent owners' counts of
// sockets found in them, by which the busiest are probed first.
const hitsHalfLife = 64

// maxTrackedFD bounds the descriptors whose kind a recent owner's entry
// remembers (a byte each).
const maxTrackedFD = 1 << 16

// A walk asks sock_diag whether the socket it looks for is still there
// after recheckFirst descriptors, then after twice as many each time,
// up to recheckFiles.
const (
	recheckFirst = 32
	recheckFiles = 512
)

// Stats counts a Source's work.
type Stats struct {
	Flows      uint64 // new flows (or ends) looked up
	Lookups    uint64 // sock_diag requests
	Found      uint64 // ends that had a process
	Probes     uint64 // single descriptors of recent owners read, on an index miss
	HotScans   uint64 // whole tables of a recent owner's fds read, on a miss the probes did not resolve
	FullScans  uint64 // walks of /proc started, on a miss the recent owners did not resolve (each stops at the owner)
	NoSocket   uint64 // ends without a socket (not local, or already gone)
	NoListener uint64 // SYNs' receiving ends not looked up: no listener there a moment ago
	Closed     uint64 // ends whose socket no longer had a file (TIME-WAIT, closed by its process)
	NoOwner    uint64 // ends whose socket's inode no process held
}

// endKey is a flow end: the socket at local talking to remote. It holds
// no pointer (unlike netip.AddrPort), so hashing it is a memhash.
type endKey struct {
	local, remote [16]byte
	lport, rport  uint16
	proto         ports.Proto
	is4           bool
}

func makeEndKey(proto ports.Proto, local, remote netip.AddrPort) endKey {
	return endKey{local: local.Addr().As16(), remote: remote.Addr().As16(), lport: local.Port(), rport: remote.Port(),
		proto: proto, is4: local.Addr().Is4()}
}

func (k endKey) addr(b [16]byte) netip.Addr {
	a := netip.AddrFrom16(b)
	if k.is4 {
		return a.Unmap()
	}
	return a
}

func (k endKey) localAP() netip.AddrPort  { return netip.AddrPortFrom(k.addr(k.local), k.lport) }
func (k endKey) remoteAP() netip.AddrPort { return netip.AddrPortFrom(k.addr(k.remote), k.rport) }

// reverse is the other end of k's flow.
func (k endKey) reverse() endKey {
	k.local, k.remote, k.lport, k.rport = k.remote, k.local, k.rport, k.lport
	return k
}

// slot is k's entry in the packet cache.
func (k endKey) slot() int {
	h := uint(k.lport)*0x9e37 ^ uint(k.rport) ^ uint(k.local[15])<<3 ^ uint(k.remote[15])<<7
	return int(h^h>>9) & (packetCacheSize - 1)
}

// packetCacheSize is the number of packet directions whose Attribution
// is kept as it is (a power of two): the packets of a busy flow cost one
// comparison, not two lookups of its ends.
const packetCacheSize = 64

// cachedPacket is a packet direction's Attribution: its Src is the
// owner of key's end. until bounds it when an end is nil (remembered as
// such until then); a process is not forgotten.
type cachedPacket struct {
	key   endKey
	ok    bool
	a     Attribution
	until time.Time
}

type endVal struct {
	proc  *Process // nil: no socket or no owner
	until time.Time
	fd    int32 // the descriptor proc holds the socket at; -1 if not known
}

// holder is where a socket inode was found open: a process and the
// descriptor there.
type holder struct{ pid, fd int32 }

// Source attributes packets to processes. It starts no goroutine; its
// methods are safe for concurrent use (lookups are serialized).
type Source struct {
	cfg    Config
	finder *socktable.Finder

	mu      sync.Mutex
	ends    map[endKey]endVal
	packets [packetCacheSize]cachedPacket
	inodes  map[uint64]holder // socket inode -> its process and descriptor
	unowned map[uint64]bool
	// noListener: TCP addresses where a SYN found no socket, until when
	// that holds.
	noListener map[netip.AddrPort]time.Time
	procs      map[int]*Process
	hot        []*hotProc       // processes that owned recent sockets, most recent first
	pids       []int            // the processes at the last walk, sorted
	fresh      []int            // of those, the ones no walk had read (scratch)
	seen       map[int]struct{} // processes some walk read
	next       int              // the pid the next walk goes on from
	probes     []int            // per recent owner, descriptors probed (scratch)
	searches   uint64
	stats      Stats
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
	return &Source{cfg: c, finder: f, ends: map[endKey]endVal{}, inodes: map[uint64]holder{},
		unowned: map[uint64]bool{}, procs: map[int]*Process{}, seen: map[int]struct{}{}, noListener: map[netip.AddrPort]time.Time{}}, nil
}

// Close releases the Source's netlink socket and the directories of
// /proc it holds open.
func (s *Source) Close() error {
	s.mu.Lock()
	for _, h := range s.hot {
		h.t.Close()
	}
	s.hot = nil
	s.mu.Unlock()
	return s.finder.Close()
}

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
	fresh, fin := false, false
	switch {
	case p.Layers.Has(wire.LayerTCP):
		proto, sp, dp = ports.ProtoTCP, p.TCP.SrcPort, p.TCP.DstPort
		fresh = p.TCP.Flags.Has(wire.TCPSyn) && !p.TCP.Flags.Has(wire.TCPAck)
		fin = p.TCP.Flags.Has(wire.TCPFin) || p.TCP.Flags.Has(wire.TCPRst)
	case p.Layers.Has(wire.LayerUDP):
		proto, sp, dp = ports.ProtoUDP, p.UDP.SrcPort, p.UDP.DstPort
	default:
		return Attribution{}
	}
	src := netip.AddrPortFrom(p.IP.Src, uint16(sp))
	dst := netip.AddrPortFrom(p.IP.Dst, uint16(dp))
	return s.flow(ctx, proto, src, dst, fresh, fin)
}

// Flow attributes a packet of proto from src to dst.
func (s *Source) Flow(ctx context.Context, proto ports.Proto, src, dst netip.AddrPort) Attribution {
	return s.flow(ctx, proto, src, dst, false, false)
}

func (s *Source) flow(ctx context.Context, proto ports.Proto, src, dst netip.AddrPort, fresh, fin bool) Attribution {
	if proto != ports.ProtoTCP && proto != ports.ProtoUDP || !src.Addr().IsValid() || !dst.Addr().IsValid() {
		return Attribution{}
	}
	k := makeEndKey(proto, src, dst)
	r := k.reverse()
	s.mu.Lock()
	defer s.mu.Unlock()
	if fin {
		s.closing(k)
		s.closing(r)
	}
	c := &s.packets[k.slot()]
	if fresh {
		// The flow's ends are looked up again: forget what both its
		// directions were.
		c.ok = false
		s.packets[r.slot()].ok = false
	} else if c.ok && c.key == k && (c.a.Src != nil && c.a.Dst != nil || s.cfg.Now().Before(c.until)) {
		return c.a
	}
	a := Attribution{Src: s.end(ctx, k, fresh, false), Dst: s.end(ctx, r, fresh, fresh)}
	c = &s.packets[k.slot()] // end may have cleared the cache
	*c = cachedPacket{key: k, ok: true, a: a}
	if a.Src == nil || a.Dst == nil {
		c.until = s.until(k, a.Src)
		if u := s.until(r, a.Dst); u.Before(c.until) {
			c.until = u
		}
	}
	return a
}

// closing notes that end k's connection is closing (a FIN or RST): the
// descriptor its process held it at is probed first on the next miss,
// as the kernel gives a new socket the lowest free descriptor.
func (s *Source) closing(k endKey) {
	v, ok := s.ends[k]
	if !ok || v.proc == nil || v.fd < 0 {
		return
	}
	for _, h := range s.hot {
		if h.pid() == v.proc.PID {
			if int(v.fd) < len(h.files) && h.files[v.fd] == fdSocket {
				h.files[v.fd] = fdClosed
			}
			return
		}
	}
}

// until is how long end k's attribution p holds: for ever if it is a
// process, else until its entry expires.
func (s *Source) until(k endKey, p *Process) time.Time {
	if p != nil {
		return time.Unix(1<<62, 0)
	}
	return s.ends[k].until
}

// Owner returns the process owning the socket at local that talks to
// remote (or would get remote's packet), or nil if there is none.
func (s *Source) Owner(ctx context.Context, proto ports.Proto, local, remote netip.AddrPort) *Process {
	if proto != ports.ProtoTCP && proto != ports.ProtoUDP || !local.Addr().IsValid() || !remote.Addr().IsValid() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.end(ctx, makeEndKey(proto, local, remote), false, false)
}

// end resolves one end, from the cache when it can. s.mu is held.
//
// A TCP SYN's receiving end (syn) can only be a listener's, whoever
// sends it: once sock_diag had no socket there, that address and port
// are taken to have no listener for listenerTTL (or Config.NegativeTTL
// if shorter), for every sender, without asking again (connections to
// another host open a new flow end at every SYN; their far end is not
// looked up each time).
func (s *Source) end(ctx context.Context, k endKey, fresh, syn bool) *Process {
	v, ok := s.ends[k]
	if ok && !fresh && v.proc != nil {
		return v.proc
	}
	now := s.cfg.Now()
	if ok && !fresh && now.Before(v.until) {
		return nil
	}
	if len(s.ends) >= s.cfg.MaxFlows {
		clear(s.ends)
		clear(s.packets[:])
	}
	if syn && k.proto == ports.ProtoTCP {
		if until, ok := s.noListener[k.localAP()]; ok && now.Before(until) {
			s.stats.NoListener++
			s.ends[k] = endVal{until: until, fd: -1}
			return nil
		}
	}
	s.stats.Flows++
	p, fd, none := s.resolve(ctx, k)
	s.ends[k] = endVal{proc: p, until: now.Add(s.cfg.NegativeTTL), fd: int32(fd)}
	if p != nil {
		s.stats.Found++
	}
	if syn && none && k.proto == ports.ProtoTCP {
		if len(s.noListener) >= maxUnowned {
			clear(s.noListener)
		}
		s.noListener[k.localAP()] = now.Add(min(s.cfg.NegativeTTL, listenerTTL))
	}
	return p
}

// resolve asks the kernel for k's socket and finds its owner; none
// reports that sock_diag had no socket for k.
func (s *Source) resolve(ctx context.Context, k endKey) (p *Process, fd int, none bool) {
	fk := findKey{k.proto, k.localAP(), k.remoteAP()}
	sock, err := s.find(fk.proto, fk.local, fk.remote)
	if err != nil {
		s.stats.NoSocket++
		return nil, -1, true
	}
	if sock.Inode == 0 && k.proto == ports.ProtoTCP && !closing(sock.State) {
		// A connection not yet accepted (a request, or established in
		// the accept queue) has no file: its listener's process is the
		// one that will accept it.
		any := netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
		if k.is4 {
			any = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		}
		fk.remote = any
		if sock, err = s.find(fk.proto, fk.local, fk.remote); err != nil {
			s.stats.NoSocket++
			return nil, -1, false
		}
	}
	if sock.Inode == 0 {
		s.stats.Closed++
		return nil, -1, false
	}
	p, fd, gone := s.ownerOf(ctx, sock.Inode, fk)
	switch {
	case gone:
		s.stats.Closed++
	case p == nil:
		s.stats.NoOwner++
	}
	return p, fd, false
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

// ownerOf finds the process holding inode (the socket that find
// answered for fk) through the index, searching on a miss (see
// search). gone reports a socket closed before its holder was found.
func (s *Source) ownerOf(ctx context.Context, inode uint64, fk findKey) (p *Process, fd int, gone bool) {
	at, ok := s.inodes[inode]
	searched := false
	if !ok && !s.unowned[inode] {
		if ok, gone = s.search(ctx, inode, fk); gone {
			return nil, -1, true
		}
		at, searched = s.inodes[inode], ok
	}
	if !ok {
		return nil, -1, false
	}
	pid := int(at.pid)
	p = s.procs[pid]
	if p == nil {
		rp, err := socktable.ReadProcess(pid)
		if err != nil {
			delete(s.inodes, inode)
			return nil, -1, true
		}
		p = &rp
		s.procs[pid] = p
	}
	s.touch(pid, searched)
	return p, int(at.fd), false
}

// findKey is what a socket was asked of sock_diag by.
type findKey struct {
	proto         ports.Proto
	local, remote netip.AddrPort
}

// search looks for the process holding inode, cheapest first: the
// recent owners' descriptors one by one from the lowest (the kernel
// gives a new socket the lowest free one), then their whole tables;
// then, if sock_diag still has the socket, the other processes, new
// ones first, from where the last search stopped, until one holds it.
// Between processes it asks again whether the socket is still there, so
// that a socket closed during the search ends it (gone) rather than
// costing a walk of every process; when every process was read and none
// holds it, the inode is remembered as unowned.
func (s *Source) search(ctx context.Context, inode uint64, fk findKey) (found, gone bool) {
	if s.searches++; s.searches%hitsHalfLife == 0 {
		for _, h := range s.hot {
			h.hits /= 2
		}
	}
	if s.probe(inode) {
		return true, false
	}
	for i := 0; i < len(s.hot); {
		h := s.hot[i]
		s.stats.HotScans++
		if err := s.reread(h); err != nil {
			// The process is gone: so is what it held.
			h.t.Close()
			delete(s.procs, h.pid())
			s.hot = slices.Delete(s.hot, i, i+1)
			continue
		}
		if _, ok := s.inodes[inode]; ok {
			return true, false
		}
		i++
	}
	if !s.still(fk, inode) {
		return false, true
	}
	return s.walk(ctx, inode, fk)
}

// probe reads the recent owners' descriptors one at a time, the
// lowest first, skipping those that held another kind of file when last
// read, until one is the socket inode or each owner had maxProbes read.
// The owners where recent searches found sockets go first, all of them
// in turn at each number (so that the second one's socket does not wait
// for every descriptor of the first); then the others, alike.
func (s *Source) probe(inode uint64) bool {
	if len(s.hot) == 0 {
		return false
	}
	if cap(s.probes) < len(s.hot) {
		s.probes = make([]int, len(s.hot))
	}
	n := s.probes[:len(s.hot)]
	clear(n)
	top := uint32(0)
	for _, h := range s.hot {
		top = max(top, h.hits)
	}
	// Pass 0: descriptors whose socket was seen closing (the kernel
	// gives the next socket the lowest free one); 1: the busy owners;
	// 2: the others.
	for pass := range 3 {
		for fd, more := 0, true; more; fd++ {
			more = false
			for i, h := range s.hot {
				if pass > 0 && (h.hits*4 >= top) != (pass == 1) || fd >= len(h.files)+probeSlack || n[i] >= maxProbes {
					continue
				}
				more = fd < len(h.files)+probeSlack
				if fd < len(h.files) && (h.files[fd] == fdOther || pass == 0 && h.files[fd] != fdClosed) || pass == 0 && fd >= len(h.files) {
					continue
				}
				n[i]++
				s.stats.Probes++
				ino, open := h.t.SocketAt(fd)
				switch {
				case !open:
					h.set(fd, fdFree)
					continue
				case ino == 0:
					h.set(fd, fdOther)
					continue
				}
				h.set(fd, fdSocket)
				s.index(ino, h.pid(), fd)
				if ino == inode {
					return true
				}
			}
		}
	}
	return false
}

// reread reads a recent owner's whole table into h and the index.
func (s *Source) reread(h *hotProc) error {
	clear(h.files)
	return h.t.Files(func(fd int, ino uint64) bool {
		if ino == 0 {
			h.set(fd, fdOther)
			return true
		}
		h.set(fd, fdSocket)
		s.index(ino, h.pid(), fd)
		return true
	})
}

// still reports whether sock_diag still has the socket inode for fk.
func (s *Source) still(fk findKey, inode uint64) bool {
	sock, err := s.find(fk.proto, fk.local, fk.remote)
	return err == nil && sock.Inode == inode
}

// walk reads the tables of all processes but the recent owners (read
// already): first those no walk has read, newest first, then the others
// in pid order from where the last walk stopped, until one holds inode,
// the socket is gone, or all were read.
func (s *Source) walk(ctx context.Context, inode uint64, fk findKey) (found, gone bool) {
	s.stats.FullScans++
	pids, err := socktable.AppendPIDs(s.pids[:0])
	if err != nil {
		return false, false
	}
	slices.Sort(pids)
	s.pids = pids
	// What left since the last walk is forgotten; what came is read
	// first.
	for p := range s.procs {
		if _, ok := slices.BinarySearch(pids, p); !ok {
			delete(s.procs, p)
		}
	}
	// Processes no walk has read yet (new ones, or left when the last
	// walk stopped early) come first, newest first.
	fresh := s.fresh[:0]
	for _, p := range pids {
		if _, ok := s.seen[p]; !ok {
			fresh = append(fresh, p)
		}
	}
	s.fresh = fresh
	for p := range s.seen {
		if _, ok := slices.BinarySearch(pids, p); !ok {
			delete(s.seen, p)
		}
	}
	read, limit := 0, recheckFirst
	// try reads p's table, to the socket if p holds it; after
	// recheckFirst descriptors, then twice as many each time up to
	// recheckFiles, it asks whether the socket is still there (short
	// connections close during walks; a process may have thousands).
	try := func(p int) (done bool) {
		if slices.ContainsFunc(s.hot, func(h *hotProc) bool { return h.pid() == p }) {
			return false
		}
		s.seen[p] = struct{}{}
		t, err := socktable.OpenFDTable(p)
		if err != nil {
			return false
		}
		_ = t.Files(func(fd int, ino uint64) bool {
			if ino != 0 {
				s.index(ino, p, fd)
				if ino == inode {
					found = true
					return false
				}
			}
			if read++; read >= limit {
				read, limit = 0, min(2*limit, recheckFiles)
				if !s.still(fk, inode) {
					gone = true
					return false
				}
			}
			return true
		})
		t.Close()
		return found || gone
	}
	for i := len(fresh) - 1; i >= 0; i-- {
		if ctx.Err() != nil {
			return false, false
		}
		if try(fresh[i]) {
			return found, gone
		}
	}
	start, _ := slices.BinarySearch(pids, s.next)
	for i := range pids {
		p := pids[(start+i)%len(pids)]
		if ctx.Err() != nil {
			return false, false
		}
		if _, ok := slices.BinarySearch(fresh, p); ok {
			continue
		}
		if try(p) {
			s.next = p + 1
			return found, gone
		}
	}
	if !s.still(fk, inode) {
		return false, true
	}
	if len(s.unowned) >= maxUnowned {
		clear(s.unowned)
	}
	s.unowned[inode] = true
	return false, false
}

// index records that pid holds the socket inode at descriptor fd (the
// first holder found is kept).
func (s *Source) index(ino uint64, pid, fd int) {
	if _, ok := s.inodes[ino]; ok {
		return
	}
	if len(s.inodes) >= maxInodes {
		clear(s.inodes) // closed sockets' inodes, gathered over time
	}
	s.inodes[ino] = holder{int32(pid), int32(fd)}
}

// fdKind is what a recent owner's file descriptor held when last read.
type fdKind uint8

const (
	fdFree   fdKind = iota // not open, or not read yet
	fdSocket               // a socket (perhaps another by now)
	fdOther                // another kind of file
	fdClosed               // a socket whose connection was seen closing: likely free, or reused
)

// hotProc is a recent owner: its table of open files, held open, and
// what each descriptor held (up to maxTrackedFD).
type hotProc struct {
	t     *socktable.FDTable
	files []fdKind
	hits  uint32 // sockets searches found here, halved every hitsHalfLife searches
}

func (h *hotProc) pid() int { return h.t.PID() }

func (h *hotProc) set(fd int, k fdKind) {
	if fd >= maxTrackedFD {
		return
	}
	if fd >= len(h.files) {
		if k == fdFree {
			return
		}
		h.files = append(h.files, make([]fdKind, fd+1-len(h.files))...)
	}
	h.files[fd] = k
}

// touch moves pid to the front of the recent owners, opening its table
// if it is new there (and closing the table of the one it displaces).
// A socket a search found there (searched) counts in its hits.
func (s *Source) touch(pid int, searched bool) {
	for i, h := range s.hot {
		if h.pid() == pid {
			copy(s.hot[1:i+1], s.hot[:i])
			s.hot[0] = h
			if searched {
				h.hits++
			}
			return
		}
	}
	t, err := socktable.OpenFDTable(pid)
	if err != nil {
		return
	}
	if len(s.hot) == maxHot {
		s.hot[maxHot-1].t.Close()
		s.hot = s.hot[:maxHot-1]
	}
	s.hot = slices.Insert(s.hot, 0, &hotProc{t: t, hits: 1})
}
