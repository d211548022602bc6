package render

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// TestAppendTCPInternalsSameText checks that AppendTCPInternals, which
// appends each word in place, writes what its first version (below,
// which built each word as a string) wrote, over random internals with
// every optional part present and absent.
func TestAppendTCPInternalsSameText(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 1))
	pick := func(n int) uint64 {
		if rng.IntN(3) == 0 {
			return 0
		}
		return rng.Uint64N(uint64(n))
	}
	for i := 0; i < 5000; i++ {
		in := &TCPInternalsV1{}
		if rng.IntN(2) == 0 {
			in.Cong = []string{"cubic", "bbr", "reno"}[rng.IntN(3)]
		}
		if rng.IntN(3) > 0 {
			info := &TCPInfoV1{
				SndWscale: uint8(pick(15)), RcvWscale: uint8(pick(15)),
				RTOMS: float64(pick(300000)) / 1000, RTTMS: float64(pick(300000)) / 1000, RTTVarMS: float64(pick(100000)) / 1000,
				MinRTTMS: float64(pick(10000)) / 1000, MSS: uint32(pick(65536)), Cwnd: uint32(pick(1000)),
				BytesSent: pick(1 << 40), BytesRetrans: pick(1 << 20), BytesAcked: pick(1 << 40), BytesRecv: pick(1 << 40),
				Retransmits: uint8(pick(10)), TotalRetrans: uint32(pick(1000)), Lost: uint32(pick(100)), Unacked: uint32(pick(100)),
				DeliveryRate: pick(1 << 34),
			}
			for _, o := range []string{"ts", "sack", "wscale", "ecn"} {
				if rng.IntN(2) == 0 {
					info.Options = append(info.Options, o)
				}
			}
			if rng.IntN(2) == 0 {
				s := uint32(pick(1 << 16))
				info.Ssthresh = &s
			}
			if rng.IntN(2) == 0 {
				r := pick(1 << 40)
				info.PacingRate = &r
			}
			in.Info = info
		}
		if rng.IntN(2) == 0 {
			in.Timer = &TimerV1{Name: []string{"on", "keepalive", "timewait", "persist"}[rng.IntN(4)], LeftMS: float64(int64(pick(8000000)) - 1000), Count: uint8(pick(5))}
		}
		if rng.IntN(2) == 0 {
			in.Mem = &SockMemV1{RmemAlloc: uint32(pick(1 << 20)), RcvBuf: uint32(pick(1 << 24)), WmemAlloc: uint32(pick(1 << 20)), SndBuf: uint32(pick(1 << 24)),
				FwdAlloc: uint32(pick(1 << 16)), WmemQueued: uint32(pick(1 << 16)), Optmem: uint32(pick(1 << 10)), Backlog: uint32(pick(10)), Drops: uint32(pick(10))}
		}
		got := string(AppendTCPInternals([]byte("x"), in))
		want := string(appendTCPInternalsOld([]byte("x"), in))
		if got != want {
			t.Fatalf("%+v:\n got %q\nwant %q", in, got, want)
		}
	}
}

// TestAppendTCPInternalsAllocs checks that a detail line without a
// timer costs no allocation.
func TestAppendTCPInternalsAllocs(t *testing.T) {
	s := uint32(10)
	r := uint64(1e9)
	in := &TCPInternalsV1{Cong: "cubic", Info: &TCPInfoV1{Options: []string{"ts", "wscale"}, RTOMS: 204, RTTMS: 0.03, RTTVarMS: 0.015, MSS: 32768, Cwnd: 10, Ssthresh: &s, PacingRate: &r, BytesAcked: 1, DeliveryRate: 8},
		Mem: &SockMemV1{RcvBuf: 131072}}
	b := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { b = AppendTCPInternals(b[:0], in) }); n != 0 {
		t.Errorf("AppendTCPInternals: %v allocations, want 0", n)
	}
}

func appendTCPInternalsOld(b []byte, t *TCPInternalsV1) []byte {
	b = append(b, "    "...)
	start := len(b)
	word := func(s string) {
		if len(b) > start {
			b = append(b, ' ')
		}
		b = append(b, s...)
	}
	kv := func(k string, v uint64) { word(k + ":" + strconv.FormatUint(v, 10)) }
	ms := func(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }
	if t.Cong != "" {
		word(t.Cong)
	}
	if i := t.Info; i != nil {
		for _, o := range i.Options {
			if o == "wscale" {
				word("wscale:" + strconv.Itoa(int(i.SndWscale)) + "," + strconv.Itoa(int(i.RcvWscale)))
			}
		}
		// As ss: only what is set.
		if i.RTOMS != 0 {
			word("rto:" + ms(i.RTOMS))
		}
		if i.RTTMS != 0 {
			word("rtt:" + ms(i.RTTMS) + "/" + ms(i.RTTVarMS))
		}
		if i.MinRTTMS > 0 {
			word("minrtt:" + ms(i.MinRTTMS))
		}
		if i.MSS != 0 {
			kv("mss", uint64(i.MSS))
		}
		kv("cwnd", uint64(i.Cwnd))
		if i.Ssthresh != nil {
			kv("ssthresh", uint64(*i.Ssthresh))
		}
		for _, c := range []struct {
			k string
			v uint64
		}{{"bytes_sent", i.BytesSent}, {"bytes_retrans", i.BytesRetrans}, {"bytes_acked", i.BytesAcked}, {"bytes_received", i.BytesRecv}} {
			if c.v != 0 {
				kv(c.k, c.v)
			}
		}
		if i.Retransmits != 0 || i.TotalRetrans != 0 {
			word("retrans:" + strconv.Itoa(int(i.Retransmits)) + "/" + strconv.FormatUint(uint64(i.TotalRetrans), 10))
		}
		if i.Lost != 0 {
			kv("lost", uint64(i.Lost))
		}
		if i.Unacked != 0 {
			kv("unacked", uint64(i.Unacked))
		}
		if i.PacingRate != nil {
			word("pacing_rate " + strconv.FormatUint(*i.PacingRate, 10) + "bps")
		}
		if i.DeliveryRate != 0 {
			word("delivery_rate " + strconv.FormatUint(i.DeliveryRate, 10) + "bps")
		}
	}
	if t.Timer != nil {
		left := time.Duration(t.Timer.LeftMS * float64(time.Millisecond)).Round(time.Millisecond)
		word("timer:(" + t.Timer.Name + "," + left.String() + "," + strconv.Itoa(int(t.Timer.Count)) + ")")
	}
	if m := t.Mem; m != nil {
		u := func(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
		word("skmem:(r" + u(m.RmemAlloc) + ",rb" + u(m.RcvBuf) + ",t" + u(m.WmemAlloc) + ",tb" + u(m.SndBuf) +
			",f" + u(m.FwdAlloc) + ",w" + u(m.WmemQueued) + ",o" + u(m.Optmem) + ",bl" + u(m.Backlog) + ",d" + u(m.Drops) + ")")
	}
	return b
}
