package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/render"
)

// sshAppAddr is the loopback address of TestIntegrationDecodeSSHAsTshark,
// its own so that other tests' traffic stays out of its filter.
const sshAppAddr = "127.0.0.148"

// TestIntegrationDecodeSSHAsTshark: an SSH banner server on loopback,
// on 22 and on 443 (SSH where the port says HTTPS), and a client that
// sends its own banner, captured by tcpdump: for every packet where
// tshark (told to take 443 for SSH, as it goes by ports) finds
// ssh.protocol, ports decode --format jsonl has the same packet with an
// ssh app object whose banner is tshark's; and the four banners are
// all there.
func TestIntegrationDecodeSSHAsTshark(t *testing.T) {
	requireCapture(t)
	tcpdump := needTcpdump(t)
	tshark := porttest.LookTool(t, "tshark", "tshark")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var lns []net.Listener
	for _, port := range []string{"22", "443"} {
		ln, err := net.Listen("tcp", net.JoinHostPort(sshAppAddr, port))
		if err != nil {
			t.Skipf("listen: %v", err)
		}
		defer ln.Close()
		lns = append(lns, ln)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))
				bufio.NewReader(c).ReadString('\n')
				c.Close()
			}
		}()
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "ssh.pcap")
	td := exec.CommandContext(ctx, tcpdump, "-i", "lo", "-U", "--immediate-mode", "-n", "-w", file, "host "+sshAppAddr)
	tdLog := &porttest.LogBuffer{}
	td.Stdout, td.Stderr = tdLog, tdLog
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "tcpdump to listen", func() bool { return strings.Contains(tdLog.String(), "listening on") })
	for _, ln := range lns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("SSH-2.0-Go_client\r\n"))
		c.(*net.TCPConn).CloseWrite()
		c.Read(make([]byte, 1)) // the server's close
		c.Close()
	}
	// tcpdump -U writes each packet as it comes: wait for the four
	// banners to be in the file (read by tcpdump itself) before stopping it.
	porttest.WaitFor(t, "the four banners in tcpdump's file", func() bool {
		out, _ := exec.CommandContext(ctx, tcpdump, "-nn", "-A", "-r", file).Output()
		return strings.Count(string(out), "SSH-2.0-") >= 4
	})
	td.Process.Signal(syscall.SIGINT)
	td.Wait()

	out, err := exec.CommandContext(ctx, tshark, "-n", "-r", file, "-d", "tcp.port==443,ssh", "-Y", "ssh.protocol", "-T", "fields",
		"-E", "separator=|", "-e", "frame.number", "-e", "ssh.protocol").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	code, js, stderr := run(t, "decode", "--format", "jsonl", file)
	if code != ExitOK {
		t.Fatalf("decode: exit %d: %s", code, stderr)
	}
	apps := map[int]*render.AppV1{}
	for _, l := range strings.Split(strings.TrimSpace(js), "\n") {
		var v render.PacketV1
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		if v.App != nil {
			apps[v.N] = v.App
		}
	}
	var banners []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(l, "|", 2)
		n, _ := strconv.Atoi(f[0])
		a := apps[n]
		if a == nil || a.Protocol != "ssh" || a.Banner != f[1] {
			t.Errorf("packet %d: app %+v, tshark ssh.protocol %q", n, a, f[1])
		}
		delete(apps, n)
		banners = append(banners, f[1])
	}
	for n, a := range apps {
		t.Errorf("packet %d: app %+v where tshark finds no SSH", n, a)
	}
	if len(banners) != 4 {
		t.Errorf("tshark found %d banners, want 4 (two connections, both ways): %q", len(banners), banners)
	}
}
