package proxyproto_test

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/portkit/ports"
	"github.com/portkit/ports/proxyproto"
)

func ExampleRead() {
	r := bufio.NewReader(strings.NewReader("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n"))
	h, err := proxyproto.Read(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Version, h.Proto, h.Src, "->", h.Dst)
	rest, _ := io.ReadAll(r)
	fmt.Printf("%q\n", rest)

	_, err = proxyproto.Read(bufio.NewReader(strings.NewReader("PROXY TCP4 192.0.2.1 ::1 1 2\r\n")))
	fmt.Println(err)
	// Output:
	// 1 tcp 192.0.2.1:56324 -> 198.51.100.2:443
	// "GET / HTTP/1.1\r\n"
	// proxyproto: malformed header: v1 destination address "::1" does not match TCP4
}

func ExampleHeader_AppendV2() {
	h := &proxyproto.Header{
		Proto: ports.ProtoTCP,
		Src:   netip.MustParseAddrPort("192.0.2.1:56324"),
		Dst:   netip.MustParseAddrPort("198.51.100.2:443"),
	}
	v1, _ := h.AppendV1(nil)
	fmt.Printf("%q\n", v1)
	v2, _ := h.AppendV2(nil)
	fmt.Printf("% x\n", v2)
	// Output:
	// "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
	// 0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 21 11 00 0c c0 00 02 01 c6 33 64 02 dc 04 01 bb
}
