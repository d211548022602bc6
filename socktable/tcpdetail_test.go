package socktable

import (
	"encoding/binary"
	"testing"
	"time"
)

// detailMsg builds an inet_diag_msg with a keepalive timer and the given
// attributes (type, value).
func detailMsg(attrs ...any) []byte {
	ne := binary.NativeEndian
	p := make([]byte, diagMsgLen)
	p[0], p[1], p[2], p[3] = afINET, uint8(StateEstablished), uint8(TimerKeepalive), 2
	binary.BigEndian.PutUint16(p[4:], 22)
	copy(p[8:], []byte{127, 0, 0, 1})
	ne.PutUint32(p[52:], 7000) // expires, ms
	for i := 0; i+1 < len(attrs); i += 2 {
		v := attrs[i+1].([]byte)
		p = ne.AppendUint16(p, uint16(4+len(v)))
		p = ne.AppendUint16(p, uint16(attrs[i].(int)))
		p = append(p, v...)
		for len(p)%4 != 0 {
			p = append(p, 0)
		}
	}
	return p
}

func TestDecodeDetail(t *testing.T) {
	ne := binary.NativeEndian
	info := make([]byte, 232)
	info[6] = 7 | 9<<4 // snd_wscale 7, rcv_wscale 9
	ne.PutUint32(info[68:], 1500)
	ne.PutUint32(info[80:], 10)
	mem := make([]byte, 36)
	for i := range 9 {
		ne.PutUint32(mem[4*i:], uint32(100+i))
	}
	var d TCPDetail
	if !decodeDetail(detailMsg(inetDiagInfo, info, inetDiagCong, []byte("cubic\x00"), inetDiagSKMemInfo, mem), &d) {
		t.Fatal("decodeDetail refused a good message")
	}
	if d.Socket.Local.String() != "127.0.0.1:22" || d.Timer != TimerKeepalive || d.TimerLeft != 7*time.Second || d.TimerCount != 2 {
		t.Errorf("socket and timer: %+v", d)
	}
	if !d.HasInfo || d.SndWscale != 7 || d.RcvWscale != 9 || d.RTT != 1500*time.Microsecond || d.SndCwnd != 10 || d.Cong != "cubic" {
		t.Errorf("tcp_info: %+v", d)
	}
	if !d.HasMem || d.Mem != (SockMem{100, 101, 102, 103, 104, 105, 106, 107, 108}) {
		t.Errorf("skmem: %+v", d.Mem)
	}
	// TIME-WAIT: no attributes.
	if !decodeDetail(detailMsg(), &d) || d.HasInfo || d.HasMem || d.Cong != "" {
		t.Errorf("no attributes: %+v", d)
	}
	// A short tcp_info (an old kernel) leaves the rest zero.
	if !decodeDetail(detailMsg(inetDiagInfo, info[:104]), &d) || !d.HasInfo || d.SndCwnd != 10 || d.BytesAcked != 0 {
		t.Errorf("short tcp_info: %+v", d)
	}
	bad := detailMsg(inetDiagCong, []byte("reno"))
	ne.PutUint16(bad[diagMsgLen:], 200) // attribute longer than the message
	if decodeDetail(bad, &d) {
		t.Error("decodeDetail accepted an attribute past the end")
	}
	if decodeDetail(make([]byte, diagMsgLen-1), &d) {
		t.Error("decodeDetail accepted a short message")
	}
}

// FuzzDecodeDetail: any bytes decode or are refused, without a panic,
// and a timer's time left is whole milliseconds.
func FuzzDecodeDetail(f *testing.F) {
	f.Add(detailMsg())
	f.Add(detailMsg(inetDiagInfo, make([]byte, 240), inetDiagCong, []byte("bbr\x00"), inetDiagSKMemInfo, make([]byte, 36)))
	f.Add(detailMsg(inetDiagInfo, make([]byte, 50)))     // too short for tcp_info: ignored
	f.Add(detailMsg(inetDiagSKMemInfo, make([]byte, 8))) // short skmem: ignored
	f.Fuzz(func(t *testing.T, p []byte) {
		var d TCPDetail
		if decodeDetail(p, &d) && d.TimerLeft%time.Millisecond != 0 {
			t.Errorf("timer left %v", d.TimerLeft)
		}
	})
}

// TestDecodeDetailNoAllocs checks that decoding a detail message with
// tcp_info, a congestion control name Linux ships and skmem allocates
// nothing, and that an unknown name still decodes (as its own string).
func TestDecodeDetailNoAllocs(t *testing.T) {
	p := detailMsg(inetDiagInfo, make([]byte, 232), inetDiagCong, []byte("cubic\x00"), inetDiagSKMemInfo, make([]byte, 36))
	var d TCPDetail
	if n := testing.AllocsPerRun(100, func() { decodeDetail(p, &d) }); n != 0 {
		t.Errorf("decodeDetail: %v allocations, want 0", n)
	}
	if d.Cong != "cubic" || !d.HasInfo || !d.HasMem {
		t.Errorf("decoded %+v", d)
	}
	if !decodeDetail(detailMsg(inetDiagCong, []byte("mine\x00")), &d) || d.Cong != "mine" {
		t.Errorf("unknown algorithm: Cong %q, want mine", d.Cong)
	}
}
