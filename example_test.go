package ports_test

import (
	"fmt"

	"github.com/portkit/ports"
)

func ExampleParseSet() {
	// Without a resolver, ParseSet takes numbers, ranges and protocol
	// prefixes; a prefix holds until the next one.
	s, err := ports.ParseSet("22,80-90,U:53,161-162", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Contains(ports.ProtoTCP, 22), s.Contains(ports.ProtoUDP, 85))
	fmt.Println(s.Contains(ports.ProtoTCP, 53), s.Contains(ports.ProtoUDP, 53))
	fmt.Println(s.Len(ports.ProtoTCP), s.Len(ports.ProtoUDP))

	// Service names need a resolver, such as registry.Default().
	_, err = ports.ParseSet("22,http", nil)
	fmt.Println(err)
	// Output:
	// true true
	// false true
	// 12 15
	// invalid port set "22,http" at position 4: service name "http" needs a service registry
}

func ExampleSet_String() {
	var s ports.Set
	s.Add(ports.ProtoAny, ports.Range{First: 80, Last: 80})
	s.Add(ports.ProtoAny, ports.Range{First: 81, Last: 90}) // merges with 80
	s.Add(ports.ProtoAny, ports.Range{First: 22, Last: 22})
	s.Add(ports.ProtoUDP, ports.Range{First: 53, Last: 53})
	fmt.Println(s)

	// Removing a port for TCP only keeps it for the other protocols.
	var tcp80 ports.Set
	tcp80.Add(ports.ProtoTCP, ports.Range{First: 80, Last: 80})
	s.Remove(tcp80)
	fmt.Println(s)
	// Output:
	// 22,80-90,U:53
	// 22,81-90,U:53,80,S:80,D:80
}

func ExampleParseEndpoint() {
	for _, in := range []string{
		"https://example.com/index.html",
		"https://example.com:8443/",
		"[2001:db8::1]:22",
	} {
		e, err := ports.ParseEndpoint(in, nil)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s port %d (%v)\n", e, e.Port, e.PortFrom)
	}
	// Output:
	// example.com:443 port 443 (scheme)
	// example.com:8443 port 8443 (explicit)
	// [2001:db8::1]:22 port 22 (explicit)
}

func ExamplePort_Class() {
	for _, p := range []ports.Port{22, 1023, 1024, 8080, 49152, 65535} {
		c := p.Class()
		fmt.Printf("%d: %s (%s, %v)\n", p, c, c.Alias(), c.Range())
	}
	// Output:
	// 22: system (well-known, 0-1023)
	// 1023: system (well-known, 0-1023)
	// 1024: user (registered, 1024-49151)
	// 8080: user (registered, 1024-49151)
	// 49152: dynamic (private, 49152-65535)
	// 65535: dynamic (private, 49152-65535)
}
