package render

import (
	"strconv"
	"time"
)

// TCPInternalsV1 is what `ports ls -i` adds to a TCP socket (SocketV1's
// "tcp"): what `ss -tin -o -m` shows.
type TCPInternalsV1 struct {
	Timer *TimerV1 `json:"timer"`          // null when no timer is pending
	Cong  string   `json:"cong,omitempty"` // congestion control: cubic, bbr, reno...
	// Info is null for TIME-WAIT and NEW-SYN-RECV, which keep no
	// tcp_info, and for LISTEN, whose tcp_info holds only the accept
	// queue (recv_q and send_q).
	Info *TCPInfoV1 `json:"info"`
	Mem  *SockMemV1 `json:"skmem"` // null when the kernel did not give it
}

// TimerV1 is a socket's pending timer: retransmit (ss: "on"), keepalive,
// time-wait or persist (zero window probe), the time left before it
// fires (negative when overdue) and the retransmissions or probes sent.
type TimerV1 struct {
	Name   string  `json:"name"`
	LeftMS float64 `json:"left_ms"`
	Count  uint8   `json:"count"`
}

// TCPInfoV1 is the kernel's struct tcp_info of a socket. Times are in
// milliseconds, rates in bits per second (as ss prints them), windows and
// byte counts in bytes, and the rest in segments. Fields a kernel does
// not report (older than the field) are 0.
type TCPInfoV1 struct {
	CAState      uint8    `json:"ca_state"` // 0 open, 1 disorder, 2 CWR, 3 recovery, 4 loss
	Options      []string `json:"options"`  // ts, sack, wscale, ecn
	SndWscale    uint8    `json:"snd_wscale"`
	RcvWscale    uint8    `json:"rcv_wscale"`
	RTOMS        float64  `json:"rto_ms"`
	ATOMS        float64  `json:"ato_ms"`
	RTTMS        float64  `json:"rtt_ms"`
	RTTVarMS     float64  `json:"rttvar_ms"`
	MinRTTMS     float64  `json:"min_rtt_ms"`
	RcvRTTMS     float64  `json:"rcv_rtt_ms"`
	MSS          uint32   `json:"mss"`
	RcvMSS       uint32   `json:"rcv_mss"`
	AdvMSS       uint32   `json:"advmss"`
	PMTU         uint32   `json:"pmtu"`
	Cwnd         uint32   `json:"cwnd"`
	Ssthresh     *uint32  `json:"ssthresh"` // null until the first loss (the kernel's "infinite")
	RcvSsthresh  uint32   `json:"rcv_ssthresh"`
	RcvSpace     uint32   `json:"rcv_space"`
	SndWnd       uint32   `json:"snd_wnd"`
	RcvWnd       uint32   `json:"rcv_wnd"`
	Unacked      uint32   `json:"unacked"`
	Sacked       uint32   `json:"sacked"`
	Lost         uint32   `json:"lost"`
	Retrans      uint32   `json:"retrans"`       // retransmitted, not yet acknowledged
	Retransmits  uint8    `json:"retransmits"`   // retries of the current timeout (ss: retrans:CUR/...)
	TotalRetrans uint32   `json:"total_retrans"` // all retransmissions (ss: retrans:.../TOTAL)
	Probes       uint8    `json:"probes"`
	Backoff      uint8    `json:"backoff"`
	Reordering   uint32   `json:"reordering"`
	NotsentBytes uint32   `json:"notsent_bytes"`
	LastSendMS   float64  `json:"last_send_ms"`        // since data was last sent
	LastRecvMS   float64  `json:"last_recv_ms"`        // since data was last received
	LastAckMS    float64  `json:"last_ack_ms"`         // since an ACK was last received
	PacingRate   *uint64  `json:"pacing_rate_bps"`     // null: no limit
	MaxPacing    *uint64  `json:"max_pacing_rate_bps"` // null: no limit
	DeliveryRate uint64   `json:"delivery_rate_bps"`
	BytesSent    uint64   `json:"bytes_sent"`
	BytesRetrans uint64   `json:"bytes_retrans"`
	BytesAcked   uint64   `json:"bytes_acked"`
	BytesRecv    uint64   `json:"bytes_received"`
	SegsOut      uint32   `json:"segs_out"`
	SegsIn       uint32   `json:"segs_in"`
	DataSegsOut  uint32   `json:"data_segs_out"`
	DataSegsIn   uint32   `json:"data_segs_in"`
	Delivered    uint32   `json:"delivered"`
}

// SockMemV1 is a socket's memory, in bytes (ss -m's skmem), and the
// packets it dropped.
type SockMemV1 struct {
	RmemAlloc  uint32 `json:"rmem_alloc"`
	RcvBuf     uint32 `json:"rcvbuf"`
	WmemAlloc  uint32 `json:"wmem_alloc"`
	SndBuf     uint32 `json:"sndbuf"`
	FwdAlloc   uint32 `json:"fwd_alloc"`
	WmemQueued uint32 `json:"wmem_queued"`
	Optmem     uint32 `json:"optmem"`
	Backlog    uint32 `json:"backlog"`
	Drops      uint32 `json:"drops"`
}

// AppendTCPInternals appends the detail line of `ports ls -i` (without
// the newline), indented under its socket's row and without tabs so that
// the table's columns ignore it. Its words are ss's: "cubic wscale:7,7
// rto:204 rtt:0.03/0.015 ... timer:(keepalive,9m59.5s,0)
// skmem:(r0,rb131072,...)".
func AppendTCPInternals(b []byte, t *TCPInternalsV1) []byte {
	// Each word is appended in place (no strings built per word): a
	// listing of 50,000 sockets writes one line per socket.
	b = append(b, "    "...)
	start := len(b)
	sep := func() {
		if len(b) > start {
			b = append(b, ' ')
		}
	}
	word := func(s string) {
		sep()
		b = append(b, s...)
	}
	kv := func(k string, v uint64) {
		word(k)
		b = append(b, ':')
		b = strconv.AppendUint(b, v, 10)
	}
	ms := func(f float64) { b = strconv.AppendFloat(b, f, 'g', 6, 64) }
	if t.Cong != "" {
		word(t.Cong)
	}
	if i := t.Info; i != nil {
		for _, o := range i.Options {
			if o == "wscale" {
				word("wscale:")
				b = strconv.AppendInt(b, int64(i.SndWscale), 10)
				b = append(b, ',')
				b = strconv.AppendInt(b, int64(i.RcvWscale), 10)
			}
		}
		// As ss: only what is set.
		if i.RTOMS != 0 {
			word("rto:")
			ms(i.RTOMS)
		}
		if i.RTTMS != 0 {
			word("rtt:")
			ms(i.RTTMS)
			b = append(b, '/')
			ms(i.RTTVarMS)
		}
		if i.MinRTTMS > 0 {
			word("minrtt:")
			ms(i.MinRTTMS)
		}
		if i.MSS != 0 {
			kv("mss", uint64(i.MSS))
		}
		kv("cwnd", uint64(i.Cwnd))
		if i.Ssthresh != nil {
			kv("ssthresh", uint64(*i.Ssthresh))
		}
		if i.BytesSent != 0 {
			kv("bytes_sent", i.BytesSent)
		}
		if i.BytesRetrans != 0 {
			kv("bytes_retrans", i.BytesRetrans)
		}
		if i.BytesAcked != 0 {
			kv("bytes_acked", i.BytesAcked)
		}
		if i.BytesRecv != 0 {
			kv("bytes_received", i.BytesRecv)
		}
		if i.Retransmits != 0 || i.TotalRetrans != 0 {
			word("retrans:")
			b = strconv.AppendInt(b, int64(i.Retransmits), 10)
			b = append(b, '/')
			b = strconv.AppendUint(b, uint64(i.TotalRetrans), 10)
		}
		if i.Lost != 0 {
			kv("lost", uint64(i.Lost))
		}
		if i.Unacked != 0 {
			kv("unacked", uint64(i.Unacked))
		}
		if i.PacingRate != nil {
			word("pacing_rate ")
			b = strconv.AppendUint(b, *i.PacingRate, 10)
			b = append(b, "bps"...)
		}
		if i.DeliveryRate != 0 {
			word("delivery_rate ")
			b = strconv.AppendUint(b, i.DeliveryRate, 10)
			b = append(b, "bps"...)
		}
	}
	if t.Timer != nil {
		left := time.Duration(t.Timer.LeftMS * float64(time.Millisecond)).Round(time.Millisecond)
		word("timer:(")
		b = append(b, t.Timer.Name...)
		b = append(b, ',')
		b = append(b, left.String()...)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(t.Timer.Count), 10)
		b = append(b, ')')
	}
	if m := t.Mem; m != nil {
		word("skmem:(r")
		u := func(prefix string, n uint32) {
			b = append(b, prefix...)
			b = strconv.AppendUint(b, uint64(n), 10)
		}
		u("", m.RmemAlloc)
		u(",rb", m.RcvBuf)
		u(",t", m.WmemAlloc)
		u(",tb", m.SndBuf)
		u(",f", m.FwdAlloc)
		u(",w", m.WmemQueued)
		u(",o", m.Optmem)
		u(",bl", m.Backlog)
		u(",d", m.Drops)
		b = append(b, ')')
	}
	return b
}
