package socktable

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
)

// runBytecode interprets inet_diag bytecode as the kernel's
// inet_diag_bc_run does (net/ipv4/inet_diag.c), for the ops bytecode
// emits, on a socket from src to dst; it fails the test where the
// kernel's inet_diag_bc_audit would refuse the code.
func runBytecode(t *testing.T, bc []byte, src, dst netip.AddrPort) bool {
	t.Helper()
	ne := binary.NativeEndian
	sport, dport := src.Port(), dst.Port()
	pos, n := 0, len(bc)
	for n > 0 {
		if pos+4 > len(bc) {
			t.Fatalf("op at %d runs past the end", pos)
		}
		code, yesOff, noOff := bc[pos], int(bc[pos+1]), int(ne.Uint16(bc[pos+2:]))
		arg := func() uint16 { return ne.Uint16(bc[pos+6:]) }
		minLen := 4
		var yes bool
		switch code {
		case bcJMP:
			yes = false
		case bcSGE:
			yes, minLen = sport >= arg(), 8
		case bcSLE:
			yes, minLen = sport <= arg(), 8
		case bcDGE:
			yes, minLen = dport >= arg(), 8
		case bcDLE:
			yes, minLen = dport <= arg(), 8
		case bcSCond, bcDCond:
			if pos+12 > len(bc) {
				t.Fatalf("hostcond at %d runs past the end", pos)
			}
			family, bits, port := bc[pos+4], int(bc[pos+5]), int32(ne.Uint32(bc[pos+8:]))
			alen := map[uint8]int{afINET: 4, afINET6: 16}[family]
			minLen = 12 + alen
			if alen == 0 || bits > 8*alen || pos+minLen > len(bc) {
				t.Fatalf("bad hostcond at %d: family %d, /%d", pos, family, bits)
			}
			ap, p := src, sport
			if code == bcDCond {
				ap, p = dst, dport
			}
			want := bc[pos+12 : pos+minLen]
			a := ap.Addr()
			switch {
			case port != -1 && port != int32(p):
				yes = false
			case family == afINET && a.Is6(): // an IPv4-mapped address matches
				b := a.As16()
				yes = a.Is4In6() && bitsMatch(b[12:], want, bits)
			case family == afINET6 && a.Is4():
				yes = false
			default:
				yes = bitsMatch(a.AsSlice(), want, bits)
			}
		default:
			t.Fatalf("unknown op %d at %d", code, pos)
		}
		if noOff < minLen || noOff > n+4 || noOff%4 != 0 {
			t.Fatalf("op %d at %d: bad no %d (min %d, left %d)", code, pos, noOff, minLen, n)
		}
		if yesOff < minLen || yesOff > n+4 || yesOff%4 != 0 {
			t.Fatalf("op %d at %d: bad yes %d (min %d, left %d)", code, pos, yesOff, minLen, n)
		}
		off := noOff
		if yes {
			off = yesOff
		}
		pos += off
		n -= off
	}
	return n == 0
}

// bitsMatch compares the first bits bits of a and b.
func bitsMatch(a, b []byte, bits int) bool {
	for i := 0; bits > 0; i++ {
		m := byte(0xff)
		if bits < 8 {
			m = 0xff << (8 - bits)
		}
		if a[i]&m != b[i]&m {
			return false
		}
		bits -= 8
	}
	return true
}

func TestPortFilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := []struct{ local, remote []ports.Range }{
		{[]ports.Range{{First: 80, Last: 80}}, nil},
		{nil, []ports.Range{{First: 443, Last: 443}}},
		{[]ports.Range{{First: 1, Last: 1023}, {First: 8000, Last: 8100}}, nil},
		{[]ports.Range{{First: 22, Last: 22}, {First: 80, Last: 80}}, []ports.Range{{First: 1024, Last: 65535}}},
		{[]ports.Range{{First: 0, Last: 65535}}, []ports.Range{{First: 53, Last: 53}, {First: 5353, Last: 5353}, {First: 100, Last: 200}}},
	}
	if (&Options{}).bytecode() != nil {
		t.Error("no filter: bytecode is not nil")
	}
	for _, set := range sets {
		o := Options{LocalPorts: set.local, RemotePorts: set.remote}
		bc := o.bytecode()
		for i := 0; i < 5000; i++ {
			sp, dp := uint16(rng.IntN(65536)), uint16(rng.IntN(65536))
			if i < 4 { // the edges of the first ranges
				r := append(set.local, set.remote...)[0]
				sp, dp = uint16(r.First)+uint16(i%2), uint16(r.Last)-uint16(i/2)
			}
			s := Socket{Local: netip.AddrPortFrom(netip.IPv4Unspecified(), sp), Remote: netip.AddrPortFrom(netip.IPv4Unspecified(), dp)}
			if got, want := runBytecode(t, bc, s.Local, s.Remote), o.match(&s); got != want {
				t.Fatalf("local %v remote %v: ports %d -> %d: bytecode %v, want %v", set.local, set.remote, sp, dp, got, want)
			}
		}
	}
}

// diagMessage builds one netlink message carrying an inet_diag_msg.
func diagMessage(family, state uint8, src, dst netip.AddrPort, rq, wq, uid, inode uint32) []byte {
	ne := binary.NativeEndian
	p := make([]byte, diagMsgLen)
	p[0], p[1] = family, state
	binary.BigEndian.PutUint16(p[4:], src.Port())
	binary.BigEndian.PutUint16(p[6:], dst.Port())
	if family == afINET6 {
		a, b := src.Addr().As16(), dst.Addr().As16()
		copy(p[8:], a[:])
		copy(p[24:], b[:])
	} else {
		a, b := src.Addr().As4(), dst.Addr().As4()
		copy(p[8:], a[:])
		copy(p[24:], b[:])
	}
	ne.PutUint32(p[56:], rq)
	ne.PutUint32(p[60:], wq)
	ne.PutUint32(p[64:], uid)
	ne.PutUint32(p[68:], inode)
	h := make([]byte, nlmsgHdrLen)
	ne.PutUint32(h, uint32(nlmsgHdrLen+len(p)))
	ne.PutUint16(h[4:], sockDiagByFamily)
	return append(h, p...)
}

func doneMessage() []byte {
	h := make([]byte, nlmsgHdrLen+4)
	binary.NativeEndian.PutUint32(h, uint32(len(h)))
	binary.NativeEndian.PutUint16(h[4:], nlmsgDone)
	return h
}

func TestDiagDecode(t *testing.T) {
	l4 := netip.MustParseAddrPort("127.0.0.1:8080")
	r4 := netip.MustParseAddrPort("192.0.2.7:51000")
	l6 := netip.MustParseAddrPort("[2001:db8::1]:443")
	var buf []byte
	buf = append(buf, diagMessage(afINET, 1, l4, r4, 3, 4, 1000, 77)...)
	buf = append(buf, diagMessage(afINET6, 10, l6, netip.AddrPortFrom(netip.IPv6Unspecified(), 0), 0, 128, 0, 78)...)
	buf = append(buf, doneMessage()...)
	var got []Socket
	done, err := diagMessages(buf, func(p []byte) bool {
		var s Socket
		if !diagMsg(p, ports.ProtoTCP, &s) {
			t.Fatalf("short message")
		}
		got = append(got, s)
		return true
	})
	if err != nil || !done {
		t.Fatalf("done %v, err %v", done, err)
	}
	want := []Socket{
		{Proto: ports.ProtoTCP, Local: l4, Remote: r4, State: StateEstablished, RecvQ: 3, SendQ: 4, UID: 1000, Inode: 77},
		{Proto: ports.ProtoTCP, Local: l6, Remote: netip.AddrPortFrom(netip.IPv6Unspecified(), 0), State: StateListen, SendQ: 128, Inode: 78},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}

	// An error answer, a truncated message.
	errMsg := doneMessage()
	binary.NativeEndian.PutUint16(errMsg[4:], nlmsgError)
	binary.NativeEndian.PutUint32(errMsg[16:], uint32(0xffffffea)) // -22
	if _, err := diagMessages(errMsg, func([]byte) bool { return true }); err == nil || err.(errnoError) != 22 {
		t.Errorf("error message: got %v, want errno 22", err)
	}
	if _, err := diagMessages(buf[:40], func([]byte) bool { return true }); err != errTruncated {
		t.Errorf("truncated: got %v", err)
	}
}

func FuzzDiagMessages(f *testing.F) {
	f.Add(append(diagMessage(afINET, 1, netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"), 0, 0, 0, 1), doneMessage()...))
	f.Add(doneMessage())
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Socket
		diagMessages(b, func(p []byte) bool {
			diagMsg(p, ports.ProtoUDP, &s)
			return true
		})
	})
}

const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 986886 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:1F90 01 00000010:00000000 00:00000000 00000000  1000        0 986900 1 0000000000000000 20 4 30 10 -1
`

const procNetTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
`

func TestParseProcNet(t *testing.T) {
	var got []Socket
	collect := func(s *Socket) bool { got = append(got, *s); return true }
	if err := parseProcNet(strings.NewReader(procNetTCP), "tcp", ports.ProtoTCP, collect); err != nil {
		t.Fatal(err)
	}
	if err := parseProcNet(strings.NewReader(procNetTCP6), "tcp6", ports.ProtoTCP, collect); err != nil {
		t.Fatal(err)
	}
	want := []Socket{
		{Proto: ports.ProtoTCP, Local: netip.MustParseAddrPort("127.0.0.1:8080"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), State: StateListen, RecvQ: 2, Inode: 986886},
		{Proto: ports.ProtoTCP, Local: netip.MustParseAddrPort("127.0.0.1:50000"), Remote: netip.MustParseAddrPort("127.0.0.1:8080"), State: StateEstablished, SendQ: 16, UID: 1000, Inode: 986900},
		{Proto: ports.ProtoTCP, Local: netip.MustParseAddrPort("[::1]:8081"), Remote: netip.MustParseAddrPort("[::]:0"), State: StateListen, Inode: 12345},
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the recorded tables are from a little-endian machine")
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"h\n0: 0100007F 00000000:0000 0A 0:0 0 0 0 0 1\n", "h\n0: 0100007F:1F90 00000000:0000 ZZ 0:0 0 0 0 0 1\n", "h\n0: 1:2\n"} {
		err := parseProcNet(strings.NewReader(bad), "tcp", ports.ProtoTCP, collect)
		if err == nil || !strings.Contains(err.Error(), "tcp line 2") {
			t.Errorf("%q: error %v, want one naming tcp line 2", bad, err)
		}
	}
}

func FuzzParseProcNet(f *testing.F) {
	f.Add(procNetTCP)
	f.Add(procNetTCP6)
	f.Fuzz(func(t *testing.T, s string) {
		parseProcNet(strings.NewReader(s), "tcp", ports.ProtoTCP, func(*Socket) bool { return true })
	})
}

func TestContainerOf(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	tests := []struct{ cgroup, runtime, id string }{
		{"0::/system.slice/docker-" + id + ".scope\n", "docker", id},
		{"12:pids:/docker/" + id + "\n", "docker", id},
		{"0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-" + id + ".scope\n", "kubepods", id},
		{"0::/machine.slice/libpod-" + id + ".scope/container\n", "podman", id},
		{"0::/system.slice/containerd.service/k8s.io/" + id + "\n", "containerd", id},
		{"0::/system.slice/docker.service\n", "", ""},
		{"0::/user.slice/user-1000.slice/session-2.scope\n", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		rt, gotID := containerOf([]byte(tt.cgroup))
		if rt != tt.runtime || gotID != tt.id {
			t.Errorf("containerOf(%q) = %q, %q; want %q, %q", tt.cgroup, rt, gotID, tt.runtime, tt.id)
		}
	}
}

func TestParseState(t *testing.T) {
	for in, want := range map[string]State{
		"listen": StateListen, "LISTEN": StateListen, "estab": StateEstablished, "established": StateEstablished,
		"time-wait": StateTimeWait, "time_wait": StateTimeWait, "unconn": StateClose, "close": StateClose, "syn-recv": StateSynRecv,
	} {
		if got, err := ParseState(in); err != nil || got != want {
			t.Errorf("ParseState(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "bogus", "UNKNOWN", "listenx"} {
		if _, err := ParseState(bad); err == nil || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("ParseState(%q): error %v, want one quoting the input", bad, err)
		}
	}
}

func TestParseStates(t *testing.T) {
	for in, want := range map[string]States{
		"listen":                StatesOf(StateListen),
		"unconn, LISTEN":        StatesOf(StateClose, StateListen),
		"all":                   AllStates,
		"connected":             StatesOf(StateEstablished, StateSynSent, StateSynRecv, StateFinWait1, StateFinWait2, StateTimeWait, StateCloseWait, StateLastAck, StateClosing, StateNewSynRecv),
		"synchronized":          StatesOf(StateEstablished, StateSynRecv, StateFinWait1, StateFinWait2, StateTimeWait, StateCloseWait, StateLastAck, StateClosing, StateNewSynRecv),
		"synchronized,syn-sent": Connected,
		"Connected,listen":      Connected | StatesOf(StateListen),
	} {
		if got, err := ParseStates(in); err != nil || got != want {
			t.Errorf("ParseStates(%q) = %b, %v; want %b", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "listen,", "listen,bogus", "connect"} {
		if _, err := ParseStates(bad); err == nil {
			t.Errorf("ParseStates(%q) succeeded", bad)
		}
	}
}
