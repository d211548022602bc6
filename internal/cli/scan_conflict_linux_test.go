package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portkit/ports/internal/porttest"
)

// forgeRSTs answers, from inside h, every IPv4 SYN it sees with a RST
// that acknowledges it, as an on-path forger racing h's kernel would.
func forgeRSTs(t *testing.T, h *porttest.Host) {
	t.Helper()
	var fd int
	if err := h.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		return err
	}); err != nil {
		t.Fatalf("raw socket in %s: %v", h.Name, err)
	}
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	var stop atomic.Bool
	var wg sync.WaitGroup
	t.Cleanup(func() {
		stop.Store(true)
		wg.Wait()
		unix.Close(fd)
	})
	wg.Go(func() {
		buf := make([]byte, 2000)
		for !stop.Load() {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil || n < 40 || buf[0]>>4 != 4 {
				continue
			}
			b := buf[:n]
			ihl := int(b[0]&15) * 4
			if len(b) < ihl+20 || b[ihl+13] != 0x02 { // SYN alone
				continue
			}
			src, dst := [4]byte(b[16:20]), [4]byte(b[12:16])
			seg := make([]byte, 20)
			copy(seg[0:2], b[ihl+2:ihl+4]) // from the port probed
			copy(seg[2:4], b[ihl:ihl+2])   // to the probe's port
			binary.BigEndian.PutUint32(seg[8:], binary.BigEndian.Uint32(b[ihl+4:])+1)
			seg[12], seg[13] = 5<<4, 0x14 // RST, ACK
			var sum uint32
			for i := 0; i < 4; i += 2 {
				sum += uint32(binary.BigEndian.Uint16(src[i:])) + uint32(binary.BigEndian.Uint16(dst[i:]))
			}
			sum += 6 + 20
			for i := 0; i < 20; i += 2 {
				sum += uint32(binary.BigEndian.Uint16(seg[i:]))
			}
			for sum>>16 != 0 {
				sum = sum&0xffff + sum>>16
			}
			binary.BigEndian.PutUint16(seg[16:], ^uint16(sum))
			unix.Sendto(fd, seg, 0, &unix.SockaddrInet4{Addr: dst})
		}
	})
}

// TestIntegrationScanConflictingReplies: a port whose probe gets both the
// host's SYN-ACK and a forged RST is listed with state unknown and both
// reasons, and the scan says so, where it was silently open.
func TestIntegrationScanConflictingReplies(t *testing.T) {
	p := porttest.NewPair(t, nil)
	l, err := p.B.Listen("tcp", net.JoinHostPort(p.B.Addr4.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	forgeRSTs(t, p.B)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := childCommand(t, func(name string, args ...string) *exec.Cmd { return p.A.Command(ctx, name, args...) },
		"scan", "-sS", "-p", fmt.Sprintf("1-20,%d", port), p.B.Addr4.String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scan: %v: %s", err, stderr.String())
	}
	row := fmt.Sprintf("%d/tcp", port)
	var line string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(l, row+" ") {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) < 4 || f[1] != "unknown" || !strings.Contains(f[3], "syn-ack") || !strings.Contains(f[3], "reset") {
		t.Errorf("row %q, want state unknown with the reasons syn-ack and reset:\n%s", line, stdout.String())
	}
	if !strings.Contains(stderr.String(), fmt.Sprintf("port %d/tcp: the probe got both a SYN-ACK and a RST", port)) {
		t.Errorf("stderr does not report the conflict: %q", stderr.String())
	}
	if strings.Contains(stdout.String(), "open") {
		t.Errorf("a port is reported open:\n%s", stdout.String())
	}
}
