package cli

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/portkit/ports"
	"github.com/portkit/ports/hostports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/registry"
	"github.com/portkit/ports/socktable"
)

// listenerStates are the states of listening sockets: TCP LISTEN, and
// UDP UNCONN (bound, not connected), as `ss -tul` shows them.
var listenerStates = socktable.StatesOf(socktable.StateListen, socktable.StateClose)

// portFilter is a port set from the command line, matched per protocol.
type portFilter struct {
	set ports.Set
	raw string
}

// parsePortFilter parses a port set in the project's grammar (ports.ParseSet).
func parsePortFilter(raw string) (*portFilter, error) {
	set, err := ports.ParseSet(raw, registry.Default())
	if err != nil {
		return nil, usagef("%v", err)
	}
	f := &portFilter{set: set, raw: raw}
	if len(f.ranges()) == 0 {
		return nil, usagef("port set %q holds no TCP or UDP port", raw)
	}
	return f, nil
}

// ranges returns the TCP and UDP ports of the set, merged, for
// socktable.Options: the kernel filters on them, and match refines per
// protocol.
func (f *portFilter) ranges() []ports.Range {
	var u ports.Set
	for _, p := range []ports.Proto{ports.ProtoTCP, ports.ProtoUDP} {
		for _, r := range f.set.Ranges(p) {
			u.Add(ports.ProtoAny, r)
		}
	}
	return u.Ranges(ports.ProtoAny)
}

// matchLocal reports whether s's local port is in the set for its
// protocol.
func (f *portFilter) matchLocal(s *socktable.Socket) bool {
	return f.set.Contains(s.Proto, ports.Port(s.Local.Port()))
}

// matchRemote reports whether s has a peer whose port is in the set.
func (f *portFilter) matchRemote(s *socktable.Socket) bool {
	return s.HasPeer() && f.set.Contains(s.Proto, ports.Port(s.Remote.Port()))
}

// sockQuery is a listing of sockets with the filters the library cannot
// apply.
type sockQuery struct {
	opts socktable.Options
	// listenOnly keeps TCP LISTEN and UDP UNCONN sockets only; opts.States
	// must then be listenerStates.
	listenOnly bool
	// port filters on the local port, or with matchRemote on the local
	// or the remote port (so that opts cannot hold it: Options ANDs the
	// two).
	port        *portFilter
	matchRemote bool
	procName    string // lower case; "" for any
	pid         int    // 0 for any
}

// list returns the sockets q selects, sorted.
func (q *sockQuery) list(ctx context.Context) ([]socktable.Socket, error) {
	opts := q.opts
	if q.port != nil && !q.matchRemote {
		opts.LocalPorts = q.port.ranges()
	}
	// One slice, sized from the kernel's socket counts and sorted in
	// place: a listing of 18,000 sockets spent about 650 page faults
	// (2.4 MB) on a second copy, into blocks then a sorted slice. When
	// the count falls short, append grows the slice as usual.
	n := socktable.Estimate(&opts)
	all := make([]socktable.Socket, 0, n+n/16+64)
	for s, err := range socktable.List(ctx, &opts) {
		if err != nil {
			return nil, err
		}
		if q.keep(&s) {
			all = append(all, s)
		}
	}
	permute(all, sortOrder(len(all), func(i int) *socktable.Socket { return &all[i] }))
	return all, nil
}

// permute reorders ss in place so that the new ss[i] is the old
// ss[order[i]], following each cycle of the permutation; it overwrites
// order.
func permute(ss []socktable.Socket, order []int32) {
	for i := range order {
		if order[i] < 0 || int(order[i]) == i {
			continue
		}
		tmp := ss[i]
		j := i
		for {
			k := int(order[j])
			order[j] = -1
			if k == i {
				ss[j] = tmp
				break
			}
			ss[j] = ss[k]
			j = k
		}
	}
}

func (q *sockQuery) keep(s *socktable.Socket) bool {
	if q.listenOnly && !s.IsListener() {
		return false
	}
	if q.port != nil && !q.port.matchLocal(s) && !(q.matchRemote && q.port.matchRemote(s)) {
		return false
	}
	if q.procName != "" || q.pid != 0 {
		found := false
		for _, p := range s.Procs {
			if (q.pid == 0 || p.PID == q.pid) && (q.procName == "" || strings.Contains(strings.ToLower(p.Name), q.procName)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// sortSockets sorts by protocol, local port, local address, remote
// endpoint, then inode.
func sortSockets(ss []socktable.Socket) []socktable.Socket {
	// Sort indexes, then move each socket once: a Socket is about 100
	// bytes, and a sort of 50,000 of them spent most of its time moving
	// them.
	order := sortOrder(len(ss), func(i int) *socktable.Socket { return &ss[i] })
	sorted := make([]socktable.Socket, len(ss))
	for i, j := range order {
		sorted[i] = ss[j]
	}
	return sorted
}

// sortOrder returns the indexes 0 to n-1 of the sockets at returns in
// sortSockets's order.
func sortOrder(n int, at func(int) *socktable.Socket) []int32 {
	// Most comparisons are settled by two integer keys that follow the
	// full order exactly: protocol, local port, family and IPv4 local
	// address; IPv4 remote address and port. IPv6 sockets leave the
	// address parts zero and fall back to the full comparison.
	keys := make([]sortKey, n)
	for i := range n {
		s := at(i)
		k := sortKey{k1: uint64(s.Proto)<<56 | uint64(s.Local.Port())<<40, i: int32(i)}
		la, ra := s.Local.Addr(), s.Remote.Addr()
		switch {
		case la.Is6():
			k.k1 |= 1 << 32
		case la.Is4():
			b := la.As4()
			k.k1 |= uint64(binary.BigEndian.Uint32(b[:]))
			switch {
			case ra.Is4():
				r := ra.As4()
				k.k2 = uint64(binary.BigEndian.Uint32(r[:]))<<16 | uint64(s.Remote.Port())
			case ra.Is6():
				k.k2 = 1 << 48 // after every IPv4 peer
			}
		}
		keys[i] = k
	}
	// A radix sort on the keys (stable, and only over the bytes that
	// differ between sockets: on loopback most are the same), then the
	// full comparison within each run of equal keys. A comparison sort
	// of 18,000 keys took 12 ms here.
	keys = radixSortKeys(keys, make([]sortKey, len(keys)))
	full := func(x, y sortKey) int {
		a, b := at(int(x.i)), at(int(y.i))
		return cmp.Or(
			a.Local.Addr().Compare(b.Local.Addr()),
			a.Remote.Compare(b.Remote),
			cmp.Compare(a.State, b.State),
			cmp.Compare(a.Inode, b.Inode),
		)
	}
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j].k1 == keys[i].k1 && keys[j].k2 == keys[i].k2 {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(keys[i:j], full)
		}
		i = j
	}
	order := make([]int32, len(keys))
	for i, k := range keys {
		order[i] = k.i
	}
	return order
}

// sortKey is a socket's place in sortSockets's order as far as two
// integers tell it (see sortOrder), and its index.
type sortKey struct {
	k1, k2 uint64
	i      int32
}

// radixSortKeys sorts keys by (k1, k2), stably, with tmp (as long as
// keys) as scratch; it returns the sorted slice, keys or tmp. It is a
// least-significant-byte-first radix sort that skips the bytes every key
// has the same.
func radixSortKeys(keys, tmp []sortKey) []sortKey {
	if len(keys) < 2 {
		return keys
	}
	var d1, d2 uint64 // the bits that differ from the first key's
	for i := range keys {
		d1 |= keys[i].k1 ^ keys[0].k1
		d2 |= keys[i].k2 ^ keys[0].k2
	}
	var count [256]int
	pass := func(hi bool, shift uint) {
		clear(count[:])
		for i := range keys {
			w := keys[i].k2
			if hi {
				w = keys[i].k1
			}
			count[(w>>shift)&0xff]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for i := range keys {
			w := keys[i].k2
			if hi {
				w = keys[i].k1
			}
			d := (w >> shift) & 0xff
			tmp[count[d]] = keys[i]
			count[d]++
		}
		keys, tmp = tmp, keys
	}
	for shift := uint(0); shift < 64; shift += 8 {
		if (d2>>shift)&0xff != 0 {
			pass(false, shift)
		}
	}
	for shift := uint(0); shift < 64; shift += 8 {
		if (d1>>shift)&0xff != 0 {
			pass(true, shift)
		}
	}
	return keys
}

// onePort checks the arguments of a command that takes one PORT.
func onePort(cmd *cobra.Command, args []string) error {
	switch len(args) {
	case 0:
		return usagef("missing PORT: a port number or service name, optionally with /tcp or /udp")
	case 1:
		return nil
	}
	return usagef("unexpected argument %q: %s takes one PORT", args[1], cmd.Name())
}

// listenKey is a protocol and port that something listens on.
type listenKey struct {
	proto ports.Proto
	port  uint16
}

// sockView turns sockets into render.SocketV1 values and table rows.
type sockView struct {
	reg       *registry.Registry
	host      hostports.Info
	hostOK    bool
	procs     bool // processes were looked up
	listening listenSet
	services  *serviceCache // serviceName's cache
}

func newSockView(procs bool) *sockView {
	v := &sockView{reg: registry.Default(), procs: procs, services: &serviceCache{}}
	host, err := hostports.Read()
	v.host, v.hostOK = host, err == nil
	return v
}

// listenSet is a set of ports per protocol (TCP, and UDP for the rest),
// as bits: a listing asks it twice per socket, which a map made a
// tenth of the listing's time.
type listenSet [2][65536 / 64]uint64

func protoIndex(p ports.Proto) int {
	if p == ports.ProtoTCP {
		return 0
	}
	return 1
}

func (l *listenSet) add(p ports.Proto, port uint16) {
	l[protoIndex(p)][port/64] |= 1 << (port % 64)
}

func (l *listenSet) has(p ports.Proto, port uint16) bool {
	return l[protoIndex(p)][port/64]&(1<<(port%64)) != 0
}

// serviceCache holds the names serviceName found, by protocol and port:
// for each port 0 (not looked up yet), 1 (no name) or 2+i for names[i].
// The registry is asked once per port; the index arrays hold no
// pointers, so the collector does not scan them.
type serviceCache struct {
	idx   [2][]uint16
	names []string
}

// convert turns ss into render values, in two halves at once on a large
// listing (each half with its own service-name cache).
func (v *sockView) convert(ss []socktable.Socket) []render.SocketV1 {
	out := make([]render.SocketV1, len(ss))
	conv := func(v *sockView, lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = v.socketV1(&ss[i])
		}
	}
	if len(ss) < 4096 {
		conv(v, 0, len(ss))
		return out
	}
	half := len(ss) / 2
	other := *v
	other.services = &serviceCache{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		conv(&other, half, len(ss))
	}()
	conv(v, 0, half)
	wg.Wait()
	return out
}

// learnListeners records the ports that the listeners among ss hold, so
// that a connection on such a port is known to be the server's side.
func (v *sockView) learnListeners(ss []socktable.Socket) {
	for i := range ss {
		if ss[i].IsListener() {
			v.listening.add(ss[i].Proto, ss[i].Local.Port())
		}
	}
}

// needListeners reports whether ss holds connections whose well-known
// side v cannot tell without knowing the listeners.
func needListeners(ss []socktable.Socket) bool {
	for i := range ss {
		if !ss[i].IsListener() && ss[i].HasPeer() {
			return true
		}
	}
	return false
}

// servicePort returns the well-known side of s: the local port of a
// listener or of a server's connection, the remote port of a client's.
// It is s.ServerPort with the evidence of servicePortSlow (a test
// checks that they agree), without its closures.
func (v *sockView) servicePort(s *socktable.Socket) uint16 {
	lp := s.Local.Port()
	if s.IsListener() || !s.HasPeer() {
		return lp
	}
	rp := s.Remote.Port()
	// A listener here on the local port: the connection is one it
	// accepted. On the remote port: most likely a connection to it. Then
	// a port outside the ephemeral range; then the lower.
	lis := v.listening.has(s.Proto, lp)
	if lis && rp != lp {
		return lp
	}
	if rl := v.listening.has(s.Proto, rp); lis != rl {
		if lis {
			return lp
		}
		return rp
	}
	if v.hostOK {
		if fl, fr := !v.host.InEphemeral(ports.Port(lp)), !v.host.InEphemeral(ports.Port(rp)); fl != fr {
			if fl {
				return lp
			}
			return rp
		}
	}
	return min(lp, rp)
}

// servicePortSlow is servicePort as ServerPort's evidence functions say
// it, for the test that servicePort agrees.
func (v *sockView) servicePortSlow(s *socktable.Socket) uint16 {
	lp := ports.Port(s.Local.Port())
	accepted := v.listening.has(s.Proto, uint16(lp))
	acceptedHere := func(p ports.Port) bool { return accepted && p == lp }
	listening := func(p ports.Port) bool { return v.listening.has(s.Proto, uint16(p)) }
	var fixed func(ports.Port) bool
	if v.hostOK {
		fixed = func(p ports.Port) bool { return !v.host.InEphemeral(p) }
	}
	return uint16(s.ServerPort(acceptedHere, listening, fixed))
}

// ephemeral reports whether s's local port is marked as ephemeral: in
// the range, on a socket that is not a listener, and not a port
// something listens on.
func (v *sockView) ephemeral(s *socktable.Socket) bool {
	return v.hostOK && !s.IsListener() && v.host.InEphemeral(ports.Port(s.Local.Port())) && !v.listening.has(s.Proto, s.Local.Port())
}

// serviceName returns the first registered name for p.
func (v *sockView) serviceName(proto ports.Proto, p uint16) string {
	// Many sockets share a port (every connection to one server): look
	// each up once.
	c := v.services
	pi := protoIndex(proto)
	if c.idx[pi] == nil {
		c.idx[pi] = make([]uint16, 65536)
	}
	switch k := c.idx[pi][p]; k {
	case 0:
	case 1:
		return ""
	default:
		return c.names[k-2]
	}
	name := ""
	for rec := range v.reg.Port(proto, ports.Port(p)) {
		if rec.Name != "" {
			name = rec.Name
			break
		}
	}
	if name == "" {
		c.idx[pi][p] = 1
	} else {
		c.names = append(c.names, name)
		c.idx[pi][p] = uint16(len(c.names) + 1)
	}
	return name
}

func (v *sockView) socketV1(s *socktable.Socket) render.SocketV1 {
	sp := v.servicePort(s)
	out := render.SocketV1{
		Proto:       s.Proto.String(),
		State:       s.State.String(),
		Local:       render.AddrPortOf(s.Local),
		RecvQ:       s.RecvQ,
		SendQ:       s.SendQ,
		UID:         s.UID,
		Inode:       s.Inode,
		Service:     v.serviceName(s.Proto, sp),
		ServicePort: sp,
		Class:       ports.Port(sp).Class().String(),
		Ephemeral:   v.ephemeral(s),
		ProcsHidden: s.ProcsHidden,
	}
	if s.HasPeer() {
		r := render.AddrPortOf(s.Remote)
		out.Remote = &r
	}
	if v.procs {
		out.Processes = processesV1(s.Procs)
	}
	return out
}

func processesV1(ps []socktable.Process) []render.ProcessV1 {
	out := make([]render.ProcessV1, 0, len(ps))
	for _, p := range ps {
		out = append(out, render.ProcessV1{
			PID: p.PID, Name: p.Name, Cmdline: p.Cmdline, UID: p.UID, User: p.User,
			Container: p.Container, ContainerID: p.ContainerID,
		})
	}
	return out
}

// addrProto formats an endpoint as "0.0.0.0:80/tcp".
func addrProto(s *socktable.Socket) string {
	return s.Local.String() + "/" + s.Proto.String()
}

// parsePortArg parses the PORT[/proto] argument of who and kill: a port
// set in the ParseSet grammar (usually one port or a service name),
// optionally for tcp or udp only.
func parsePortArg(arg string) (*portFilter, ports.Proto, error) {
	spec, protoName, hasProto := strings.Cut(arg, "/")
	proto := ports.ProtoAny
	if hasProto {
		p, err := ports.ParseProto(protoName)
		if err != nil || (p != ports.ProtoTCP && p != ports.ProtoUDP) {
			return nil, 0, usagef("unknown protocol %q in %q: want tcp or udp", protoName, arg)
		}
		proto = p
	}
	f, err := parsePortFilter(spec)
	if err != nil {
		return nil, 0, err
	}
	if rs := f.ranges(); len(rs) == 1 && rs[0] == (ports.Range{}) {
		return nil, 0, usagef("port 0 is never listened on: binding port 0 asks the kernel for a free port")
	}
	f.raw = arg
	return f, proto, nil
}

// protosOf returns the Options.Protos for proto (ProtoAny: both).
func protosOf(proto ports.Proto) []ports.Proto {
	if proto == ports.ProtoAny {
		return nil
	}
	return []ports.Proto{proto}
}

// nothingListening is the one-line message of who and kill when nothing
// listens on the port.
func nothingListening(arg string) error {
	return fmt.Errorf("nothing is listening on port %s", arg)
}

// listenersFor lists the sockets listening on the ports of queries, with
// their processes, for `ports info`. Listing sockets is a bonus there:
// on an error (an OS without support, say) it returns nil.
func listenersFor(ctx context.Context, queries []infoQuery) []socktable.Socket {
	var set ports.Set
	for _, q := range queries {
		for _, p := range q.ports {
			set.Add(ports.ProtoAny, ports.Range{First: p, Last: p})
		}
	}
	rs := set.Ranges(ports.ProtoAny)
	if len(rs) == 0 {
		return nil
	}
	q := &sockQuery{
		opts:       socktable.Options{States: listenerStates, LocalPorts: rs, Processes: true},
		listenOnly: true,
	}
	ss, err := q.list(ctx)
	if err != nil {
		return nil
	}
	return ss
}

// addListening adds to info the listeners among ss on its ports (and
// protocol, if the query named one).
func addListening(info *render.PortInfoV1, proto ports.Proto, ss []socktable.Socket) {
	last := max(info.Port, info.PortLast)
	for i := range ss {
		s := &ss[i]
		p := s.Local.Port()
		if p < info.Port || p > last || (proto != ports.ProtoAny && s.Proto != proto) {
			continue
		}
		info.Listening = append(info.Listening, render.ListenerV1{
			Proto:       s.Proto.String(),
			Local:       render.AddrPortOf(s.Local),
			Processes:   processesV1(s.Procs),
			ProcsHidden: s.ProcsHidden,
		})
	}
}

// listenerText describes a listener for `ports info`: "nginx (pid 123)
// on 0.0.0.0:80/tcp".
func listenerText(l render.ListenerV1) string {
	var who []string
	for _, p := range l.Processes {
		who = append(who, fmt.Sprintf("%s (pid %d)", p.Name, p.PID))
	}
	switch {
	case len(who) == 0 && l.ProcsHidden:
		who = append(who, "a process this user cannot see (needs root)")
	case len(who) == 0:
		who = append(who, "no process found (a kernel socket, or a process in another PID namespace)")
	}
	return strings.Join(who, ", ") + " on " + l.Local.String() + "/" + l.Proto
}
