package filter_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portkit/ports/filter"
	"github.com/portkit/ports/pcapfile"
)

func ExampleParse() {
	e, err := filter.Parse("host 10.0.0.1 or 10.0.0.2 and not tcp port ssh or 443")
	if err != nil {
		fmt.Println(err)
		return
	}
	// and and or have the same precedence and group to the left; a bare
	// value repeats the qualifiers in front of the one before it.
	fmt.Println(e)
	// Output:
	// ((host 10.0.0.1 or host 10.0.0.2) and not tcp port ssh) or tcp port 443
}

func ExampleCompile() {
	prog, err := filter.Compile("udp dst port 53", pcapfile.LinkTypeIPv4, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, ins := range prog {
		fmt.Printf("%d: %v\n", i, ins)
	}
	// Output:
	// 0: ldb [9]
	// 1: jneq #17,6
	// 2: ldh [6]
	// 3: jset #8191,4
	// 4: ldx 4*([0]&0xf)
	// 5: ldh [x + 2]
	// 6: jneq #53,1
	// 7: ret #262144
	// 8: ret #0
}

func ExampleNewMatcher() {
	m, err := filter.NewMatcher("udp port domain", pcapfile.LinkTypeEthernet)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Ethernet, IPv4 from 192.0.2.1 to 192.0.2.53, UDP 40000 -> 53.
	pkt := []byte{
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00,
		0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 53,
		0x9c, 0x40, 0, 53, 0, 8, 0, 0,
	}
	fmt.Println(m.Match(pkt, len(pkt)))
	pkt[23] = 6 // now TCP
	fmt.Println(m.Match(pkt, len(pkt)))
	// Output:
	// true
	// false
}

func ExampleSyntaxError() {
	_, err := filter.Parse("tcp port 80 and hots 10.0.0.1")
	fmt.Println(err)
	var se *filter.SyntaxError
	if errors.As(err, &se) {
		fmt.Println(se.Expr)
		fmt.Println(strings.Repeat(" ", se.Pos) + "^")
	}
	// Output:
	// filter: unknown word 'hots' at position 17
	// tcp port 80 and hots 10.0.0.1
	//                 ^
}
