package socktable

import (
	"context"
	"io"
	"math"
	"net"
	"net/netip"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/portkit/ports/internal/porttest"
)

// ssRecord is one socket of `ss -tin -o -m -H`: its addresses and the
// key:value and "key value" fields of its detail lines.
type ssRecord struct {
	local, peer string
	fields      map[string]string
}

// readSS runs ss -tin -o -m in the namespace of h and returns its records.
func readSS(t *testing.T, h *porttest.Host, states string) []ssRecord {
	t.Helper()
	out, err := h.Command(context.Background(), "ss", "-tinomH", "state", states).CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	var recs []ssRecord
	for _, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if line[0] != ' ' && line[0] != '\t' {
			// State Recv-Q Send-Q Local Peer [timer:(...)]
			if len(f) < 5 {
				t.Fatalf("ss line %q", line)
			}
			recs = append(recs, ssRecord{local: f[3], peer: f[4], fields: map[string]string{"state": f[0], "recvq": f[1], "sendq": f[2]}})
			f = f[5:]
		}
		if len(recs) == 0 {
			t.Fatalf("ss detail line before any socket: %q", line)
		}
		r := &recs[len(recs)-1]
		for i := 0; i < len(f); i++ {
			k, v, ok := strings.Cut(f[i], ":")
			switch {
			case ok:
				r.fields[k] = v
			case (k == "send" || k == "pacing_rate" || k == "delivery_rate") && i+1 < len(f):
				r.fields[k] = f[i+1]
				i++
			case ssFlags[k] || strings.HasPrefix(k, "tcp-ulp-"):
				r.fields[k] = "yes"
			case r.fields["cong"] == "":
				r.fields["cong"] = k // the one other bare word: the congestion control
			default:
				t.Fatalf("ss: unknown word %q in %q", k, line)
			}
		}
	}
	return recs
}

// ssFlags are the bare words ss prints among the details.
var ssFlags = map[string]bool{"ts": true, "sack": true, "ecn": true, "ecnseen": true, "fastopen": true,
	"app_limited": true, "cwnd_limited": true, "rwnd_limited": true, "sndbuf_limited": true, "noecn": true}

// ssTimer parses ss's timer:(NAME,TIME,COUNT), where TIME is as ss's
// print_ms_timer writes it: "9min59sec", "59sec", "7.120ms" (7.12 s), "200ms".
func ssTimer(t *testing.T, v string) (name string, left time.Duration, count int) {
	t.Helper()
	parts := strings.Split(strings.Trim(v, "()"), ",")
	if len(parts) != 3 {
		t.Fatalf("ss timer %q", v)
	}
	m := regexp.MustCompile(`^(?:(\d+)min)?(?:(\d+)(sec|\.))?(?:(\d+)ms)?$`).FindStringSubmatch(parts[1])
	if m == nil {
		t.Fatalf("ss timer time %q", parts[1])
	}
	num := func(s string) time.Duration { n, _ := strconv.Atoi(s); return time.Duration(n) }
	left = num(m[1])*time.Minute + num(m[2])*time.Second + num(m[4])*time.Millisecond
	count, _ = strconv.Atoi(parts[2])
	return parts[0], left, count
}

// TestIntegrationDetailsVsSS makes real connections in a test namespace,
// one over a veth slowed by tc (netem delay, or a tbf rate limit where
// the kernel has no netem), one over the namespace's loopback, and one
// left in TIME-WAIT, and compares Details with `ss -tin -o -m`.
//
// Tolerances: the connections are idle when read (all data acknowledged),
// so counters, MSS, cwnd, ssthresh, window scales, the congestion
// control, retransmissions and socket memory must be equal; rtt, rttvar,
// rto (ss prints %g of milliseconds) within 0.5%; pacing and delivery
// rates (ss: bits/s, %.0f) within 0.5%; a timer's time left within 3 s
// (ss and Details read it at different moments; keepalive is 600 s).
func TestIntegrationDetailsVsSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("needs ss from iproute2")
	}
	pair := porttest.NewPair(t, nil)
	a, b := pair.A, pair.B
	slowHow := "netem delay 40ms"
	for _, h := range []*porttest.Host{a, b} {
		out, err := h.Command(context.Background(), "tc", "qdisc", "add", "dev", h.Link, "root", "netem", "delay", "20ms").CombinedOutput()
		if err != nil && strings.Contains(string(out), "unknown") {
			// This kernel lacks sch_netem (CONFIG_NET_SCH_NETEM): queue
			// behind a 2 Mbit/s token bucket instead.
			slowHow = "tbf rate 2mbit (the kernel has no netem)"
			out, err = h.Command(context.Background(), "tc", "qdisc", "add", "dev", h.Link, "root", "tbf", "rate", "2mbit", "burst", "4kb", "latency", "500ms").CombinedOutput()
		}
		if err != nil {
			t.Fatalf("tc in %s: %v: %s", h.Name, err, out)
		}
	}
	t.Logf("slow link: %s", slowHow)

	const up, down = 200000, 50000
	serve := func(l net.Listener) {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				io.CopyN(io.Discard, c, up)
				c.Write(make([]byte, down))
				io.Copy(io.Discard, c) // hold until the client closes
				c.Close()
			}()
		}
	}
	slowL, err := b.Listen("tcp4", netip.AddrPortFrom(b.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer slowL.Close()
	go serve(slowL)
	fastL, err := a.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fastL.Close()
	go serve(fastL)

	dial := func(addr string) *net.TCPConn {
		c, err := a.Dial(context.Background(), "tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		tc := c.(*net.TCPConn)
		if err := tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 600 * time.Second, Interval: 75 * time.Second, Count: 9}); err != nil {
			t.Fatal(err)
		}
		if _, err := tc.Write(make([]byte, up)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, tc, down); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tc.Close() })
		return tc
	}
	slow := dial(slowL.Addr().String())
	fast := dial(fastL.Addr().String())
	// One more to the loopback listener, closed by the client first:
	// the client's side waits in TIME-WAIT.
	tw := dial(fastL.Addr().String())
	twLocal := tw.LocalAddr().String()
	tw.Close()

	opts := &Options{NetNS: a.Name}
	read := func() map[string]TCPDetail {
		m := map[string]TCPDetail{}
		for d, err := range Details(context.Background(), opts) {
			if err != nil {
				t.Fatal(err)
			}
			m[d.Socket.Local.String()+" "+d.Socket.Remote.String()] = d
		}
		return m
	}
	key := func(c net.Conn) string { return c.LocalAddr().String() + " " + c.RemoteAddr().String() }
	// Idle: everything sent is acknowledged, and the closed one waits.
	porttest.WaitFor(t, "idle connections", func() bool {
		m := read()
		s, f := m[key(slow)], m[key(fast)]
		w, ok := m[twLocal+" "+fastL.Addr().String()]
		return s.HasInfo && f.HasInfo && s.Unacked == 0 && f.Unacked == 0 && s.Socket.SendQ == 0 &&
			ok && w.Socket.State == StateTimeWait
	})
	time.Sleep(300 * time.Millisecond) // let delayed ACKs of the last segments go out on the slow link
	got := read()
	recs := readSS(t, a, "all")
	if got[key(slow)].RTT < 5*time.Millisecond {
		t.Errorf("slow connection: rtt %v, want the %s to show (at least 5ms)", got[key(slow)].RTT, slowHow)
	}

	compared := 0
	for _, r := range recs {
		d, ok := got[r.local+" "+r.peer]
		if !ok {
			continue
		}
		name := r.local + " -> " + r.peer
		if r.local+" "+r.peer == twLocal+" "+fastL.Addr().String() {
			compared++
			tname, left, _ := ssTimer(t, r.fields["timer"])
			if tname != "timewait" || d.Timer != TimerTimeWait || d.HasInfo {
				t.Errorf("%s: ss timer %s, Details timer %v (has tcp_info %v)", name, r.fields["timer"], d.Timer, d.HasInfo)
			}
			if diff := (left - d.TimerLeft).Abs(); diff > 3*time.Second {
				t.Errorf("%s: time-wait left %v, ss %v", name, d.TimerLeft, left)
			}
			continue
		}
		if !d.HasInfo {
			continue // the listeners have tcp_info too; only ours matter
		}
		isOurs := r.local+" "+r.peer == key(slow) || r.local+" "+r.peer == key(fast)
		if !isOurs {
			continue
		}
		compared++
		exact := func(field string, want uint64) {
			t.Helper()
			v, ok := r.fields[field]
			if !ok {
				if want != 0 {
					t.Errorf("%s: ss shows no %s, Details %d", name, field, want)
				}
				return
			}
			n, err := strconv.ParseUint(strings.TrimSuffix(v, "bps"), 10, 64)
			if err != nil || n != want {
				t.Errorf("%s: %s: ss %q, Details %d", name, field, v, want)
			}
		}
		near := func(field, v string, want float64) {
			t.Helper()
			f, err := strconv.ParseFloat(strings.TrimSuffix(v, "bps"), 64)
			if err != nil || math.Abs(f-want) > 0.005*math.Max(math.Abs(want), 1e-3) {
				t.Errorf("%s: %s: ss %q, Details %g", name, field, v, want)
			}
		}
		ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
		if r.fields["cong"] != d.Cong {
			t.Errorf("%s: congestion control: ss %q, Details %q", name, r.fields["cong"], d.Cong)
		}
		if w := strconv.Itoa(int(d.SndWscale)) + "," + strconv.Itoa(int(d.RcvWscale)); r.fields["wscale"] != w {
			t.Errorf("%s: wscale: ss %q, Details %s", name, r.fields["wscale"], w)
		}
		near("rto", r.fields["rto"], ms(d.RTO))
		rtt, rttvar, _ := strings.Cut(r.fields["rtt"], "/")
		near("rtt", rtt, ms(d.RTT))
		near("rttvar", rttvar, ms(d.RTTVar))
		near("minrtt", r.fields["minrtt"], ms(d.MinRTT))
		exact("mss", uint64(d.SndMSS))
		exact("advmss", uint64(d.AdvMSS))
		exact("cwnd", uint64(d.SndCwnd))
		if d.SndSsthresh < 0xffff {
			exact("ssthresh", uint64(d.SndSsthresh))
		}
		exact("bytes_sent", d.BytesSent)
		exact("bytes_acked", d.BytesAcked)
		exact("bytes_received", d.BytesReceived)
		exact("bytes_retrans", d.BytesRetrans)
		exact("unacked", uint64(d.Unacked))
		exact("lost", uint64(d.Lost))
		exact("segs_out", uint64(d.SegsOut))
		exact("segs_in", uint64(d.SegsIn))
		if v, ok := r.fields["retrans"]; ok || d.TotalRetrans != 0 {
			if w := strconv.Itoa(int(d.Retransmits)) + "/" + strconv.Itoa(int(d.TotalRetrans)); v != w {
				t.Errorf("%s: retrans: ss %q, Details %s", name, v, w)
			}
		}
		near("pacing_rate", r.fields["pacing_rate"], float64(d.PacingRate*8))
		near("delivery_rate", r.fields["delivery_rate"], float64(d.DeliveryRate*8))
		exact("recvq", uint64(d.Socket.RecvQ))
		exact("sendq", uint64(d.Socket.SendQ))
		tname, left, count := ssTimer(t, r.fields["timer"])
		if tname != "keepalive" || d.Timer != TimerKeepalive || count != int(d.TimerCount) {
			t.Errorf("%s: ss timer %s, Details %v count %d", name, r.fields["timer"], d.Timer, d.TimerCount)
		}
		if diff := (left - d.TimerLeft).Abs(); diff > 3*time.Second {
			t.Errorf("%s: keepalive left %v, ss %v", name, d.TimerLeft, left)
		}
		if !d.HasMem {
			t.Errorf("%s: no socket memory", name)
		}
		m := d.Mem
		want := "(r" + u(m.RmemAlloc) + ",rb" + u(m.RcvBuf) + ",t" + u(m.WmemAlloc) + ",tb" + u(m.SndBuf) +
			",f" + u(m.FwdAlloc) + ",w" + u(m.WmemQueued) + ",o" + u(m.Optmem) + ",bl" + u(m.Backlog) + ",d" + u(m.Drops) + ")"
		if r.fields["skmem"] != want {
			t.Errorf("%s: skmem: ss %s, Details %s", name, r.fields["skmem"], want)
		}
	}
	if compared != 3 {
		t.Errorf("compared %d sockets with ss, want 3 (ss saw %d sockets)", compared, len(recs))
	}
}

func u(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// TestTCPDetailOffsets checks decodeTCPInfo's offsets against
// golang.org/x/sys/unix's struct tcp_info, generated from the kernel's
// headers: a value written at the struct's field comes out in ours.
func TestTCPDetailOffsets(t *testing.T) {
	var ti unix.TCPInfo
	b := unsafe.Slice((*byte)(unsafe.Pointer(&ti)), unsafe.Sizeof(ti))
	ti.Rto, ti.Ato, ti.Snd_mss, ti.Rcv_mss = 1, 2, 3, 4
	ti.Unacked, ti.Sacked, ti.Lost, ti.Retrans = 5, 6, 7, 8
	ti.Last_data_sent, ti.Last_data_recv, ti.Last_ack_recv = 9, 10, 11
	ti.Pmtu, ti.Rcv_ssthresh, ti.Rtt, ti.Rttvar = 12, 13, 14, 15
	ti.Snd_ssthresh, ti.Snd_cwnd, ti.Advmss, ti.Reordering = 16, 17, 18, 19
	ti.Rcv_rtt, ti.Rcv_space, ti.Total_retrans = 20, 21, 22
	ti.Pacing_rate, ti.Max_pacing_rate, ti.Bytes_acked, ti.Bytes_received = 23, 24, 25, 26
	ti.Segs_out, ti.Segs_in, ti.Notsent_bytes, ti.Min_rtt = 27, 28, 29, 30
	ti.Data_segs_in, ti.Data_segs_out, ti.Delivery_rate, ti.Delivered = 31, 32, 33, 34
	ti.Bytes_sent, ti.Bytes_retrans, ti.Snd_wnd, ti.Rcv_wnd = 35, 36, 37, 38
	var d TCPDetail
	decodeTCPInfo(b, &d)
	us, ms := time.Microsecond, time.Millisecond
	want := TCPDetail{HasInfo: true,
		RTO: 1 * us, ATO: 2 * us, SndMSS: 3, RcvMSS: 4, Unacked: 5, Sacked: 6, Lost: 7, Retrans: 8,
		LastDataSent: 9 * ms, LastDataRecv: 10 * ms, LastAckRecv: 11 * ms,
		PMTU: 12, RcvSsthresh: 13, RTT: 14 * us, RTTVar: 15 * us,
		SndSsthresh: 16, SndCwnd: 17, AdvMSS: 18, Reordering: 19,
		RcvRTT: 20 * us, RcvSpace: 21, TotalRetrans: 22,
		PacingRate: 23, MaxPacingRate: 24, BytesAcked: 25, BytesReceived: 26,
		SegsOut: 27, SegsIn: 28, NotsentBytes: 29, MinRTT: 30 * us,
		DataSegsIn: 31, DataSegsOut: 32, DeliveryRate: 33, Delivered: 34,
		BytesSent: 35, BytesRetrans: 36, SndWnd: 37, RcvWnd: 38,
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("decodeTCPInfo:\n got %+v\nwant %+v", d, want)
	}
}
