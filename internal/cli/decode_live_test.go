package cli

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/portkit/ports/internal/porttest"
)

// TestIntegrationDecodeRealTrafficAsTcpdump captures, with tcpdump in a
// test namespace, what real programs send there: ARP, ping and ping -6
// (also fragmented by a small MTU), a TCP connection with data and its
// teardown, a refused connection (RST), a datagram to a closed port
// (ICMP and ICMPv6 port unreachable), and IPv6 neighbor discovery; then
// compares decode's lines with tcpdump -nn -r's for the file.
func TestIntegrationDecodeRealTrafficAsTcpdump(t *testing.T) {
	tcpdump := needTcpdump(t)
	p := porttest.NewPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, h := range []*porttest.Host{p.A, p.B} {
		if out, err := h.Command(ctx, "ip", "link", "set", "dev", h.Link, "mtu", "1280").CombinedOutput(); err != nil {
			t.Fatalf("mtu: %v: %s", err, out)
		}
	}
	file := filepath.Join(t.TempDir(), "live.pcap")
	capture := p.A.Command(ctx, tcpdump, "-Z", "root", "--immediate-mode", "-B", "8192", "-i", p.A.Link, "-U", "-w", file)
	stderr, err := capture.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	// tcpdump says "listening on" once its socket is open.
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "listening on") {
		t.Logf("tcpdump: %s", sc.Text())
	}
	var rest strings.Builder
	done := make(chan struct{})
	go func() { io.Copy(&rest, stderr); close(done) }()
	defer func() { <-done; t.Logf("tcpdump: %s", rest.String()) }()

	// Echo requests as ping sends them (B's kernel answers), small and
	// larger than the MTU, which the sending kernel fragments.
	b4 := p.B.Addr4.String()
	for _, size := range []int{56, 3000} {
		echo(t, p.A, p.B.Addr4, size)
		echo(t, p.A, p.B.Addr6, size)
	}

	// A TCP connection with data both ways, closed by the client.
	l, err := p.B.Listen("tcp", net.JoinHostPort(b4, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 100)
		n, _ := c.Read(buf)
		c.Write(buf[:n])
		io.Copy(io.Discard, c)
		c.Close()
	}()
	c, err := p.A.Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello, server"))
	io.ReadFull(c, make([]byte, 13))
	c.Close()
	// Refused (RST), over IPv4 and IPv6; a datagram to a closed port.
	for _, a := range []netip.Addr{p.B.Addr4, p.B.Addr6} {
		if c, err := p.A.Dial(ctx, "tcp", netip.AddrPortFrom(a, 9).String()); err == nil {
			c.Close()
		}
		if c, err := p.A.Dial(ctx, "udp", netip.AddrPortFrom(a, 9).String()); err == nil {
			c.Write([]byte("anyone?"))
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			c.Read(make([]byte, 10)) // the ICMP error ends it
			c.Close()
		}
	}
	// The last packets reach the file (tcpdump -U writes each one as it
	// reads it; a loaded machine may take a while) before tcpdump stops.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := exec.Command(tcpdump, "-nn", "-r", file).Output() // the last record may be half written
		if strings.Contains(string(out), "udp port 9 unreachable") && strings.Contains(string(out), "ICMP6, destination unreachable") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	capture.Process.Signal(syscall.SIGINT)
	if err := capture.Wait(); err != nil {
		t.Logf("tcpdump: %v", err)
	}

	want := tcpdumpOut(t, file)
	if len(want) < 20 {
		t.Fatalf("captured %d packets:\n%s", len(want), strings.Join(want, "\n"))
	}
	diffLines(t, file, decodeOut(t, file), want)
	for _, kind := range []string{"ARP, Request", "ICMP echo request", "ip-proto-1", "frag (0|", "ICMP6, echo request", "ICMP6, neighbor solicitation", "Flags [S]", "Flags [R.]", "udp port 9 unreachable", "ICMP6, destination unreachable"} {
		found := false
		for _, l := range want {
			found = found || strings.Contains(l, kind)
		}
		if !found {
			t.Errorf("no %q among the captured packets", kind)
		}
	}
}

// echo sends one ICMP or ICMPv6 echo request of size data bytes from h to
// dst, as ping does, and waits up to a second for the reply.
func echo(t *testing.T, h *porttest.Host, dst netip.Addr, size int) {
	t.Helper()
	network, typ := "ip4:icmp", icmp.Type(ipv4.ICMPTypeEcho)
	proto := 1
	if dst.Is6() {
		network, typ, proto = "ip6:ipv6-icmp", ipv6.ICMPTypeEchoRequest, 58
	}
	var c *icmp.PacketConn
	if err := h.Do(func() (err error) { c, err = icmp.ListenPacket(network, ""); return err }); err != nil {
		t.Fatalf("echo: %v", err)
	}
	defer c.Close()
	m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: 0x4242, Seq: size, Data: make([]byte, size)}}
	b, err := m.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		t.Fatalf("echo to %s: %v", dst, err)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 65536)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return // no reply: the capture shows what was sent
		}
		if r, err := icmp.ParseMessage(proto, buf[:n]); err == nil && (r.Type == ipv4.ICMPTypeEchoReply || r.Type == ipv6.ICMPTypeEchoReply) {
			return
		}
	}
}

// TestIntegrationDecodeLossyTransferAsTcpdump: a bulk TCP transfer over a
// link that drops 3% of packets makes SACK blocks, retransmissions and
// window updates; every line is tcpdump's, the SACK blocks relative as
// tcpdump makes them.
func TestIntegrationDecodeLossyTransferAsTcpdump(t *testing.T) {
	tcpdump := needTcpdump(t)
	p := porttest.NewPair(t, &porttest.PairConfig{Loss: 0.03})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// One segment a packet: no segmentation offload on the veth (ethtool
	// is not needed: the kernel caps a GSO packet at gso_max_size).
	for _, h := range []*porttest.Host{p.A, p.B} {
		if out, err := h.Command(ctx, "ip", "link", "set", "dev", h.Link, "gso_max_size", "1500").CombinedOutput(); err != nil {
			t.Skipf("ip link set gso_max_size: %v: %s", err, out)
		}
	}
	file := filepath.Join(t.TempDir(), "lossy.pcap")
	// On B, which receives the data: the sender's segments that got
	// through, and B's ACKs with their SACK blocks.
	capture := p.B.Command(ctx, tcpdump, "-Z", "root", "--immediate-mode", "-i", p.B.Link, "-U", "-w", file, "tcp")
	stderr, err := capture.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "listening on") {
	}
	go io.Copy(io.Discard, stderr)

	l, err := p.B.Listen("tcp", netip.AddrPortFrom(p.B.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		got <- n
	}()
	c, err := p.A.Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if n := <-got; n != size {
		t.Fatalf("received %d of %d bytes", n, size)
	}
	time.Sleep(200 * time.Millisecond)
	capture.Process.Signal(syscall.SIGINT)
	capture.Wait()

	want := tcpdumpOut(t, file)
	diffLines(t, file, decodeOut(t, file), want)
	sacks := 0
	for _, l := range want {
		if strings.Contains(l, ",sack ") {
			sacks++
		}
	}
	if sacks == 0 {
		t.Errorf("no SACK blocks among %d packets", len(want))
	}
	t.Logf("%d packets, %d with SACK blocks", len(want), sacks)
}

// TestIntegrationCaptureLinesAsTcpdump: ports capture and tcpdump -i lo,
// side by side on the same loopback traffic (a TCP connection: SYN
// options, data, FIN), print the same lines, the time and the service
// name aside.
func TestIntegrationCaptureLinesAsTcpdump(t *testing.T) {
	requireCapture(t)
	tcpdump := needTcpdump(t)
	l, addr := porttest.ListenTCP(t)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	const n = 8 // SYN, SYN-ACK, ACK, data, ACK, echo, ACK... and the FINs
	expr := "tcp port " + strconv.Itoa(int(addr.Port()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	td := exec.CommandContext(ctx, tcpdump, "-nn", "-l", "--immediate-mode", "-i", "lo", "-c", strconv.Itoa(n), expr)
	tdErr, _ := td.StderrPipe()
	var tdOut strings.Builder
	td.Stdout = &tdOut
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(tdErr)
	for sc.Scan() && !strings.Contains(sc.Text(), "listening on") {
	}
	go io.Copy(io.Discard, tdErr)
	var out, errb porttest.LogBuffer
	done := make(chan int)
	go func() {
		done <- Run(ctx, []string{"capture", "-i", "lo", "--no-procs", "-c", strconv.Itoa(n), expr}, &out, &errb)
	}()
	// ports capture says "listening on" once its socket is open; without
	// processes, its lines are tcpdump's.
	porttest.WaitFor(t, "ports capture to listen", func() bool { return strings.Contains(errb.String(), "listening on") })
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	io.ReadFull(c, make([]byte, 5))
	c.Close()
	if code := <-done; code != ExitOK {
		t.Fatalf("capture: exit %d: %s", code, errb.String())
	}
	if err := td.Wait(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	untimed := func(lines []string) []string {
		for i, l := range lines {
			if _, rest, ok := strings.Cut(l, " "); ok {
				lines[i] = rest
			}
		}
		return lines
	}
	got, want := untimed(packetLines(out.String())), untimed(packetLines(tdOut.String()))
	diffLines(t, "lo", got, want)
	if len(want) != n || !strings.Contains(want[0], "options [mss ") {
		t.Errorf("tcpdump saw %q", want)
	}
}

// TestIntegrationCaptureAppSummaryLive: ports capture adds what the
// stream says after tcpdump's line, live: an HTTP request on a port
// tcpdump has no printer for, echoed back.
func TestIntegrationCaptureAppSummaryLive(t *testing.T) {
	requireCapture(t)
	tcpdump := needTcpdump(t)
	l, addr := porttest.ListenTCP(t)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	const n = 8 // SYN, SYN-ACK, ACK, data, ACK, echo, ACK... and the FINs
	expr := "tcp port " + strconv.Itoa(int(addr.Port()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	td := exec.CommandContext(ctx, tcpdump, "-nn", "-l", "--immediate-mode", "-i", "lo", "-c", strconv.Itoa(n), expr)
	tdErr, _ := td.StderrPipe()
	var tdOut strings.Builder
	td.Stdout = &tdOut
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(tdErr)
	for sc.Scan() && !strings.Contains(sc.Text(), "listening on") {
	}
	go io.Copy(io.Discard, tdErr)
	var out, errb porttest.LogBuffer
	done := make(chan int)
	go func() {
		done <- Run(ctx, []string{"capture", "-i", "lo", "--no-procs", "-c", strconv.Itoa(n), expr}, &out, &errb)
	}()
	// ports capture says "listening on" once its socket is open; without
	// processes, its lines are tcpdump's.
	porttest.WaitFor(t, "ports capture to listen", func() bool { return strings.Contains(errb.String(), "listening on") })
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	req := "GET /live HTTP/1.1\r\nHost: live.test\r\n\r\n"
	c.Write([]byte(req))
	io.ReadFull(c, make([]byte, len(req)))
	c.Close()
	if code := <-done; code != ExitOK {
		t.Fatalf("capture: exit %d: %s", code, errb.String())
	}
	if err := td.Wait(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	untimed := func(lines []string) []string {
		for i, l := range lines {
			if _, rest, ok := strings.Cut(l, " "); ok {
				lines[i] = rest
			}
		}
		return lines
	}
	got, want := untimed(packetLines(out.String())), untimed(packetLines(tdOut.String()))
	diffLines(t, "lo", got, want)
	// The request and its echo: each direction's stream starts with it.
	if n := strings.Count(strings.Join(got, "\n"), ": HTTP GET /live Host: live.test"); n != 2 {
		t.Errorf("%d summaries, want 2:\n%s", n, strings.Join(got, "\n"))
	}
}
