package mapper_test

import (
	"log/slog"
	"net/netip"
	"os"

	"github.com/portkit/ports/acl"
	"github.com/portkit/ports/mapper"
)

// A TCP mapping from 127.0.0.1:8080 to two local back ends, and a SOCKS5
// proxy for the 192.168.1.0/24 network that may reach 10.0.0.0/8. (The
// example only compiles: it would listen.)
func ExampleServer_Apply() {
	s := mapper.New(&mapper.Config{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	defer s.Close()
	lan, err := acl.ParseList([]string{"192.168.1.0/24"}, nil)
	if err != nil {
		panic(err)
	}
	dest, _ := acl.ParsePrefix("10.0.0.0/8")
	err = s.Apply([]mapper.Rule{
		{Name: "web", Type: mapper.TCP, Listen: "127.0.0.1:8080", To: []string{"127.0.0.1:8081", "127.0.0.1:8082"}},
		{Name: "socks", Type: mapper.SOCKS5, Listen: ":1080", Allow: lan, AllowDest: []netip.Prefix{dest}},
	})
	if err != nil {
		slog.Error("rules", "err", err)
	}
}
