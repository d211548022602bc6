package cli

import (
	"context"
	"io"
	"math"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/render"
)

// TestIntegrationLsInfoVsSS compares `ports ls -i --format json` with
// `ss -tin -o -m` for an idle connection in a test namespace: cwnd, mss,
// window scales, the congestion control and the byte counters must be
// equal, rtt within 0.5% (ss prints %g of milliseconds), and the
// keepalive timer the same timer. The table's detail line carries the
// same words.
func TestIntegrationLsInfoVsSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("needs ss from iproute2")
	}
	pair := porttest.NewPair(t, nil)
	h := pair.A
	l, err := h.Listen("tcp4", netip.AddrPortFrom(h.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 123456
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.CopyN(io.Discard, c, n)
		c.Write([]byte("done"))
		io.Copy(io.Discard, c)
		c.Close()
	}()
	c, err := pair.B.Dial(context.Background(), "tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetKeepAlive(true)
	c.Write(make([]byte, n))
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	local, peer := c.LocalAddr().String(), c.RemoteAddr().String()

	var mine render.SocketV1
	porttest.WaitFor(t, "the connection idle", func() bool {
		for _, s := range runJSON(t, "ls", "-i", "-a", "-t", "--no-procs", "--netns", pair.B.Name, "--format", "json") {
			if s.Remote != nil && s.Local.String() == local && s.Remote.String() == peer {
				mine = s
				return s.TCP != nil && s.TCP.Info != nil && s.TCP.Info.Unacked == 0 && s.TCP.Info.BytesAcked == n+1
			}
		}
		return false
	})
	out, err := pair.B.Command(context.Background(), "ss", "-tinomH", "src", local, "dst", peer).CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	ssOut := string(out)
	field := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(ssOut)
		if m == nil {
			t.Fatalf("ss output has no %s:\n%s", re, ssOut)
		}
		return m[1]
	}
	i := mine.TCP.Info
	for _, c := range []struct {
		name string
		re   string
		got  uint64
	}{
		{"cwnd", `\bcwnd:(\d+)`, uint64(i.Cwnd)},
		{"mss", `\bmss:(\d+)`, uint64(i.MSS)},
		{"bytes_sent", `\bbytes_sent:(\d+)`, i.BytesSent},
		{"bytes_acked", `\bbytes_acked:(\d+)`, i.BytesAcked},
		{"bytes_received", `\bbytes_received:(\d+)`, i.BytesRecv},
		{"segs_out", `\bsegs_out:(\d+)`, uint64(i.SegsOut)},
		{"rcvbuf", `skmem:\(r\d+,rb(\d+)`, uint64(mine.TCP.Mem.RcvBuf)},
		{"sndbuf", `skmem:\(r\d+,rb\d+,t\d+,tb(\d+)`, uint64(mine.TCP.Mem.SndBuf)},
	} {
		if want, _ := strconv.ParseUint(field(c.re), 10, 64); want != c.got {
			t.Errorf("%s: ports %d, ss %d", c.name, c.got, want)
		}
	}
	if w := field(`\bwscale:(\d+,\d+)`); w != strconv.Itoa(int(i.SndWscale))+","+strconv.Itoa(int(i.RcvWscale)) {
		t.Errorf("wscale: ports %d,%d, ss %s", i.SndWscale, i.RcvWscale, w)
	}
	if rtt, _ := strconv.ParseFloat(field(`\brtt:([\d.]+)/`), 64); math.Abs(rtt-i.RTTMS) > 0.005*rtt+1e-3 {
		t.Errorf("rtt: ports %gms, ss %gms", i.RTTMS, rtt)
	}
	if cong := field(`\) (?:ts )?(?:sack )?(?:ecn )?(\w+) wscale`); cong != mine.TCP.Cong { // after skmem:(...) and the options
		t.Errorf("congestion control: ports %q, ss %q", mine.TCP.Cong, cong)
	}
	if tm := field(`timer:\((\w+),`); tm != "keepalive" || mine.TCP.Timer == nil || mine.TCP.Timer.Name != "keepalive" {
		t.Errorf("timer: ports %+v, ss %s", mine.TCP.Timer, tm)
	}

	// With processes the internals come from a dump of their own,
	// matched to List's sockets: the same connection has them.
	withProcs := false
	for _, s := range runJSON(t, "ls", "-i", "-a", "--netns", pair.B.Name, "--format", "json") {
		if s.Remote != nil && s.Local.String() == local && s.Remote.String() == peer {
			withProcs = s.TCP != nil && s.TCP.Info != nil && s.TCP.Info.BytesAcked == i.BytesAcked && len(s.Processes) > 0
		}
		if s.Proto == "udp" && s.TCP != nil {
			t.Errorf("a UDP socket has TCP internals: %+v", s)
		}
	}
	if !withProcs {
		t.Errorf("ls -i (with processes): the connection %s -> %s has no internals, or no process", local, peer)
	}

	// The table: a detail line under the socket's row, with ss's words.
	code, table, stderr := run(t, "ls", "-i", "-a", "-t", "--no-procs", "--netns", pair.B.Name)
	if code != ExitOK {
		t.Fatalf("ls -i: exit %d: %s", code, stderr)
	}
	lines := strings.Split(table, "\n")
	for k, line := range lines {
		if strings.Contains(line, local) && strings.Contains(line, peer) {
			if k+1 >= len(lines) || !strings.Contains(lines[k+1], "bytes_acked:"+strconv.FormatUint(i.BytesAcked, 10)) ||
				!strings.Contains(lines[k+1], "cwnd:"+strconv.Itoa(int(i.Cwnd))) || !strings.Contains(lines[k+1], "timer:(keepalive,") {
				t.Errorf("ls -i table: no detail line under the socket:\n%s", table)
			}
			return
		}
	}
	t.Errorf("ls -i table has no row for %s -> %s:\n%s", local, peer, table)
}
