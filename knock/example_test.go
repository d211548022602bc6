package knock_test

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/knock"
	"github.com/portkit/ports/wire"
)

func ExampleParseSequence() {
	seq, err := knock.ParseSequence("7000,8000:udp,9000")
	if err != nil {
		panic(err)
	}
	fmt.Println(seq)
	_, err = knock.ParseSequence("7000,8000:icmp")
	fmt.Println(err)
	// Output:
	// 7000:tcp,8000:udp,9000:tcp
	// knock protocol must be tcp or udp: "8000:icmp"
}

func ExampleMachine() {
	cfg, err := knock.ParseConfig(strings.NewReader(`
[openSSH]
	sequence    = 7000,8000:udp,9000
	seq_timeout = 10
	tcpflags    = syn
	command     = /usr/sbin/nft add element inet filter ssh { %IP% }
`), "knockd.conf")
	if err != nil {
		panic(err)
	}
	m := knock.NewMachine(cfg.Doors)
	src := netip.MustParseAddr("198.51.100.7")
	t0 := time.Unix(1_800_000_000, 0)
	for i, k := range []knock.Knock{{Port: 7000, Proto: ports.ProtoTCP}, {Port: 22, Proto: ports.ProtoTCP}, {Port: 8000, Proto: ports.ProtoUDP}, {Port: 9000, Proto: ports.ProtoTCP}} {
		hit := knock.Hit{Time: t0.Add(time.Duration(i) * time.Second), Src: src, Proto: k.Proto, Port: k.Port, Flags: wire.TCPSyn}
		for _, e := range m.Observe(hit) {
			fmt.Println(e)
		}
	}
	argv, _ := knock.ExpandCommand(cfg.Doors[0].StartCommand, src)
	fmt.Printf("%q\n", argv)
	// Output:
	// 198.51.100.7: openSSH: Stage 1
	// 198.51.100.7: openSSH: Stage 2
	// 198.51.100.7: openSSH: Stage 3
	// 198.51.100.7: openSSH: OPEN SESAME
	// ["/usr/sbin/nft" "add" "element" "inet" "filter" "ssh" "{" "198.51.100.7" "}"]
}
