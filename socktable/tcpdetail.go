package socktable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"time"

	"github.com/portkit/ports"
)

// TCPDetail is what the kernel knows of one TCP socket's internals: what
// `ss -tin -o -m` shows, from struct tcp_info (INET_DIAG_INFO), the
// congestion control's name (INET_DIAG_CONG), the socket's memory
// (INET_DIAG_SKMEMINFO) and the pending timer of the inet_diag_msg.
// Sockets in TIME-WAIT and NEW-SYN-RECV are small stand-ins with a timer
// but no tcp_info: HasInfo is false for them and the tcp_info fields are
// zero.
type TCPDetail struct {
	Socket Socket // addresses, state, queues, uid and inode; no Procs

	// Timer is the pending timer; TimerLeft the time until it fires
	// (negative when overdue), TimerCount the retransmissions or
	// keepalive probes sent so far (ss's third timer field).
	Timer      Timer
	TimerLeft  time.Duration
	TimerCount uint8

	Cong string // congestion control: "cubic", "bbr", "reno"...; "" if not given

	HasInfo bool // the tcp_info fields below were read
	CAState uint8
	// Retransmits is the count of the current retransmission timeout's
	// retries (tcpi_retransmits); TotalRetrans all retransmitted segments
	// (tcpi_total_retrans). ss prints them as retrans:CUR/TOTAL.
	Retransmits  uint8
	TotalRetrans uint32
	Probes       uint8
	Backoff      uint8
	Options      uint8 // TCPI_OPT_* bits: 1 timestamps, 2 SACK, 4 window scaling, 8 ECN
	// SndWscale and RcvWscale are the window scales, valid when
	// Options has window scaling (4).
	SndWscale, RcvWscale uint8

	RTO, ATO       time.Duration
	RTT, RTTVar    time.Duration // smoothed round trip time and its mean deviation
	MinRTT, RcvRTT time.Duration

	SndMSS, RcvMSS, AdvMSS, PMTU uint32
	Unacked, Sacked, Lost        uint32 // segments
	Retrans                      uint32 // segments retransmitted and not yet acknowledged
	SndSsthresh                  uint32 // 0x7fffffff (TCP_INFINITE_SSTHRESH) until the first loss
	SndCwnd                      uint32 // segments
	RcvSsthresh, RcvSpace        uint32
	Reordering                   uint32
	SndWnd, RcvWnd               uint32 // bytes; 0 on kernels before 5.4 and 6.2
	NotsentBytes                 uint32

	// LastDataSent, LastDataRecv and LastAckRecv are how long ago data was
	// sent, data received and an ACK received.
	LastDataSent, LastDataRecv, LastAckRecv time.Duration

	// Rates are in bytes per second (ss prints bits per second).
	PacingRate, MaxPacingRate, DeliveryRate uint64

	BytesSent, BytesRetrans, BytesAcked, BytesReceived uint64
	SegsOut, SegsIn, DataSegsOut, DataSegsIn           uint32
	Delivered                                          uint32

	// Mem is the socket's memory (ss -m's skmem); HasMem says it was read.
	HasMem bool
	Mem    SockMem
}

// SockMem is a socket's memory accounting (the kernel's SK_MEMINFO_*),
// in bytes: ss -m prints it as skmem:(rRMEM,rbRCVBUF,tWMEM,tbSNDBUF,
// fFWD,wQUEUED,oOPT,blBACKLOG,dDROPS).
type SockMem struct {
	RmemAlloc, RcvBuf, WmemAlloc, SndBuf, FwdAlloc, WmemQueued, Optmem, Backlog uint32
	Drops                                                                       uint32 // packets
}

// Timer is the kind of a socket's pending timer (idiag_timer).
type Timer uint8

// Timers. ss names them off, on, keepalive, timewait and persist.
const (
	TimerNone       Timer = 0
	TimerRetransmit Timer = 1 // retransmission, loss probe or reordering timeout (ss: "on")
	TimerKeepalive  Timer = 2
	TimerTimeWait   Timer = 3
	TimerPersist    Timer = 4 // zero window probe
)

var timerNames = [...]string{"", "retransmit", "keepalive", "time-wait", "persist"}

// String returns "retransmit", "keepalive", "time-wait", "persist", or
// "" for none.
func (t Timer) String() string {
	if int(t) < len(timerNames) {
		return timerNames[t]
	}
	return fmt.Sprintf("timer(%d)", uint8(t))
}

// ErrNoDetail is returned where TCP internals cannot be read: on systems
// other than Linux, and on Linux when netlink sock_diag is refused. It
// wraps errors.ErrUnsupported.
var ErrNoDetail = fmt.Errorf("socktable: TCP internals are not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Details yields the internals of the TCP sockets that opts selects (nil
// selects all): Family, States, LocalPorts, RemotePorts and NetNS apply
// as in List; Processes is ignored, and Protos without ProtoTCP selects
// nothing. It is one sock_diag dump, like List's but with larger
// answers. An error ends the sequence.
func Details(ctx context.Context, opts *Options) iter.Seq2[TCPDetail, error] {
	if opts == nil {
		opts = &Options{}
	}
	if len(opts.Protos) > 0 && !containsProto(opts.Protos, ports.ProtoTCP) {
		return func(func(TCPDetail, error) bool) {}
	}
	return detailsOS(ctx, opts)
}

// Attributes and ext bits of a detail dump (linux/inet_diag.h).
const (
	inetDiagCong      = 4
	inetDiagSKMemInfo = 7
	extDetail         = extInfo | 1<<(inetDiagCong-1) | 1<<(inetDiagSKMemInfo-1)
)

// decodeDetail decodes one answer of a detail dump (p, a netlink
// message's payload) into d. It reports false if p is too short or its
// attributes are malformed.
func decodeDetail(p []byte, d *TCPDetail) bool {
	var s Socket
	if !diagMsg(p, ports.ProtoTCP, &s) {
		return false
	}
	ne := binary.NativeEndian
	*d = TCPDetail{Socket: s, Timer: Timer(p[2]), TimerCount: p[3]}
	if d.Timer != TimerNone {
		// idiag_expires is in milliseconds, negative when overdue.
		d.TimerLeft = time.Duration(int32(ne.Uint32(p[52:]))) * time.Millisecond
	}
	for a := p[diagMsgLen:]; len(a) >= 4; {
		n, typ := int(ne.Uint16(a)), ne.Uint16(a[2:])
		if n < 4 || n > len(a) {
			return false
		}
		v := a[4:n]
		switch typ {
		case inetDiagInfo:
			decodeTCPInfo(v, d)
		case inetDiagCong:
			for i, c := range v {
				if c == 0 {
					v = v[:i]
					break
				}
			}
			d.Cong = congName(v)
		case inetDiagSKMemInfo:
			if len(v) >= 36 {
				d.HasMem = true
				m := &d.Mem
				for i, f := range []*uint32{&m.RmemAlloc, &m.RcvBuf, &m.WmemAlloc, &m.SndBuf, &m.FwdAlloc, &m.WmemQueued, &m.Optmem, &m.Backlog, &m.Drops} {
					*f = ne.Uint32(v[4*i:])
				}
			}
		}
		a = a[min((n+3)&^3, len(a)):]
	}
	return true
}

// congName returns v as a string, without an allocation for the
// congestion control algorithms Linux ships (one string per socket was
// most of the allocations of a detail dump).
func congName(v []byte) string {
	switch string(v) {
	case "cubic":
		return "cubic"
	case "reno":
		return "reno"
	case "bbr":
		return "bbr"
	case "dctcp":
		return "dctcp"
	case "htcp":
		return "htcp"
	case "vegas":
		return "vegas"
	case "westwood":
		return "westwood"
	case "bic":
		return "bic"
	case "illinois":
		return "illinois"
	case "hybla":
		return "hybla"
	case "highspeed":
		return "highspeed"
	case "scalable":
		return "scalable"
	case "yeah":
		return "yeah"
	case "lp":
		return "lp"
	case "veno":
		return "veno"
	case "nv":
		return "nv"
	case "cdg":
		return "cdg"
	}
	return string(v)
}

// decodeTCPInfo reads struct tcp_info (linux/tcp.h) from b, as far as b
// goes: older kernels send a shorter struct, and fields past its end
// stay zero.
func decodeTCPInfo(b []byte, d *TCPDetail) {
	if len(b) < 104 { // up to tcpi_total_retrans: Linux 2.6
		return
	}
	ne := binary.NativeEndian
	u32 := func(off int) uint32 {
		if off+4 > len(b) {
			return 0
		}
		return ne.Uint32(b[off:])
	}
	u64 := func(off int) uint64 {
		if off+8 > len(b) {
			return 0
		}
		return ne.Uint64(b[off:])
	}
	us := func(off int) time.Duration { return time.Duration(u32(off)) * time.Microsecond }
	ms := func(off int) time.Duration { return time.Duration(u32(off)) * time.Millisecond }
	d.HasInfo = true
	d.CAState, d.Retransmits, d.Probes, d.Backoff, d.Options = b[1], b[2], b[3], b[4], b[5]
	d.SndWscale, d.RcvWscale = b[6]&0xf, b[6]>>4
	d.RTO, d.ATO = us(8), us(12)
	d.SndMSS, d.RcvMSS = u32(16), u32(20)
	d.Unacked, d.Sacked, d.Lost, d.Retrans = u32(24), u32(28), u32(32), u32(36)
	d.LastDataSent, d.LastDataRecv, d.LastAckRecv = ms(44), ms(52), ms(56)
	d.PMTU, d.RcvSsthresh = u32(60), u32(64)
	d.RTT, d.RTTVar = us(68), us(72)
	d.SndSsthresh, d.SndCwnd, d.AdvMSS, d.Reordering = u32(76), u32(80), u32(84), u32(88)
	d.RcvRTT, d.RcvSpace, d.TotalRetrans = us(92), u32(96), u32(100)
	d.PacingRate, d.MaxPacingRate = u64(104), u64(112)
	d.BytesAcked, d.BytesReceived = u64(120), u64(128)
	d.SegsOut, d.SegsIn, d.NotsentBytes = u32(136), u32(140), u32(144)
	d.MinRTT = us(148)
	d.DataSegsIn, d.DataSegsOut = u32(152), u32(156)
	d.DeliveryRate = u64(160)
	d.Delivered = u32(192)
	d.BytesSent, d.BytesRetrans = u64(200), u64(208)
	d.SndWnd, d.RcvWnd = u32(228), u32(232)
}

// appendDetailRequest is appendCountersRequest asking for the attributes
// of a detail dump as well.
func appendDetailRequest(b []byte, seq uint32, family uint8, states States, bytecode []byte) []byte {
	b = appendCountersRequest(b, seq, family, states, bytecode)
	if family == 0 {
		b[nlmsgHdrLen+3] = extDetail // inet_diag_req: family, src_len, dst_len, ext
	} else {
		b[nlmsgHdrLen+2] = extDetail // inet_diag_req_v2: family, protocol, ext, pad
	}
	return b
}
