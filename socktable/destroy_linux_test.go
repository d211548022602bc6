package socktable

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/portkit/ports"
)

// TestIntegrationDestroy destroys one of two loopback connections between
// the same two sockets' owners: the destroyed one fails on both sides and
// leaves ss's listing; the other still carries data.
func TestIntegrationDestroy(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "tcp6" {
				addr = "[::1]:0"
			}
			l, err := net.Listen(network, addr)
			if err != nil {
				t.Skipf("no %s loopback: %v", network, err)
			}
			defer l.Close()
			dial := func() (net.Conn, net.Conn) {
				c, err := net.Dial(network, l.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				s, err := l.Accept()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close(); s.Close() })
				return c, s
			}
			c1, s1 := dial()
			c2, s2 := dial()
			victim := Socket{Proto: ports.ProtoTCP, Local: addrPort(t, c1.LocalAddr()), Remote: addrPort(t, c1.RemoteAddr())}
			err = Destroy(context.Background(), victim, nil)
			if errors.Is(err, os.ErrPermission) {
				t.Skipf("needs CAP_NET_ADMIN: %v", err)
			}
			if errors.Is(err, ErrDestroyUnsupported) {
				t.Skipf("kernel without SOCK_DESTROY: %v", err)
			}
			if err != nil {
				t.Fatalf("Destroy: %v", err)
			}
			if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, unix.ECONNABORTED) {
				t.Errorf("destroyed side: read: %v, want ECONNABORTED", err)
			}
			if _, err := s1.Read(make([]byte, 1)); err == nil {
				t.Errorf("peer of the destroyed socket: read succeeded")
			}
			if _, err := c2.Write([]byte("still here")); err != nil {
				t.Fatalf("the other connection: %v", err)
			}
			got := make([]byte, 10)
			if _, err := io.ReadFull(s2, got); err != nil || string(got) != "still here" {
				t.Errorf("the other connection: read %q, %v", got, err)
			}
			if ss, err := exec.LookPath("ss"); err == nil {
				out, err := exec.Command(ss, "-tnH", "state", "established", "src", victim.Local.String(), "dst", victim.Remote.String()).CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != "" {
					t.Errorf("ss still lists the destroyed socket (%v): %s", err, out)
				}
				out, _ = exec.Command(ss, "-tnH", "state", "established", "src", c2.LocalAddr().String()).CombinedOutput()
				if !strings.Contains(string(out), c2.RemoteAddr().String()) {
					t.Errorf("ss does not list the surviving connection: %q", out)
				}
			}
			// Again: it is gone.
			if err := Destroy(context.Background(), victim, nil); !errors.Is(err, ErrNoSocket) {
				t.Errorf("destroying it again: %v, want ErrNoSocket", err)
			}
		})
	}
}

// TestDestroyErrno: the kernel's refusals are errors a caller can test,
// including the one a kernel without CONFIG_INET_DIAG_DESTROY gives
// (which this machine's kernel may not provoke).
func TestDestroyErrno(t *testing.T) {
	s := &Socket{Proto: ports.ProtoTCP}
	for _, c := range []struct {
		e    unix.Errno
		want error
	}{{unix.EOPNOTSUPP, ErrDestroyUnsupported}, {unix.EOPNOTSUPP, errors.ErrUnsupported}, {unix.ENOENT, ErrNoSocket}, {unix.EPERM, os.ErrPermission}} {
		if err := destroyErrno(c.e, s); !errors.Is(err, c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("errno %v: %v, want %v", c.e, err, c.want)
		}
	}
	if err := destroyErrno(unix.EOPNOTSUPP, s); !strings.Contains(err.Error(), "CONFIG_INET_DIAG_DESTROY") {
		t.Errorf("EOPNOTSUPP: %q does not say what the kernel lacks", err)
	}
	if destroyErrno(0, s) != nil {
		t.Error("errno 0 is an error")
	}
}
