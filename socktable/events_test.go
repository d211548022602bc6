package socktable

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/portkit/ports"
)

// endMessage builds a destroy event's payload: an inet_diag_msg, the
// protocol attribute and, if info is given, INET_DIAG_INFO.
func endMessage(proto uint8, src, dst netip.AddrPort, cookie uint64, info []byte) []byte {
	ne := binary.NativeEndian
	m := diagMessage(afINET, uint8(StateClose), src, dst, 0, 0, 0, 0)[nlmsgHdrLen:]
	ne.PutUint32(m[44:], uint32(cookie))
	ne.PutUint32(m[48:], uint32(cookie>>32))
	m = append(m, 5, 0, inetDiagProtocol, 0, proto, 0, 0, 0)
	if info != nil {
		m = ne.AppendUint16(m, uint16(4+len(info)))
		m = ne.AppendUint16(m, inetDiagInfo)
		m = append(m, info...)
	}
	return m
}

func TestDecodeEnd(t *testing.T) {
	ne := binary.NativeEndian
	info := make([]byte, 232)
	ne.PutUint64(info[120:], 1002) // bytes_acked
	ne.PutUint64(info[128:], 2008) // bytes_received
	ne.PutUint64(info[200:], 1000) // bytes_sent
	ne.PutUint32(info[100:], 3)    // total_retrans
	src, dst := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.2:80")
	var e SocketEnd
	if !decodeEnd(endMessage(6, src, dst, 1<<40|7, info), &e) {
		t.Fatal("decodeEnd refused a TCP event")
	}
	want := SocketEnd{Socket: Socket{Proto: ports.ProtoTCP, Local: src, Remote: dst, State: StateClose, Cookie: 1<<40 | 7},
		HasInfo: true, BytesSent: 1000, BytesAcked: 1002, BytesReceived: 2008, TotalRetrans: 3}
	if e.Socket.Procs != nil || e.Socket.Local != want.Socket.Local || e.Socket.Remote != want.Socket.Remote || e.Socket.Cookie != want.Socket.Cookie ||
		e.Socket.Proto != want.Socket.Proto || e.Socket.State != want.Socket.State ||
		e.HasInfo != want.HasInfo || e.BytesSent != want.BytesSent || e.BytesAcked != want.BytesAcked || e.BytesReceived != want.BytesReceived || e.TotalRetrans != want.TotalRetrans {
		t.Errorf("decodeEnd = %+v, want %+v", e, want)
	}
	if !decodeEnd(endMessage(17, src, dst, 9, nil), &e) || e.Socket.Proto != ports.ProtoUDP || e.HasInfo {
		t.Errorf("UDP event: %+v", e)
	}
	if decodeEnd(endMessage(132, src, dst, 9, nil), &e) {
		t.Error("an SCTP event was decoded")
	}
	full := endMessage(6, src, dst, 1, info)
	for n := 0; n < len(full); n++ {
		decodeEnd(full[:n], &e) // no panic on any truncation
	}
}

func FuzzDecodeEnd(f *testing.F) {
	src, dst := netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("10.0.0.1:2")
	f.Add(endMessage(6, src, dst, 1, make([]byte, 240)))
	f.Add(endMessage(17, src, dst, 2, nil))
	f.Add(endMessage(6, src, dst, 3, make([]byte, 50))) // a tcp_info too short for the counters
	f.Fuzz(func(t *testing.T, p []byte) {
		var e SocketEnd
		if decodeEnd(p, &e) && e.Socket.Proto != ports.ProtoTCP && e.Socket.Proto != ports.ProtoUDP {
			t.Fatalf("decoded protocol %v", e.Socket.Proto)
		}
	})
}
