package acl_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/portkit/ports/acl"
)

func ExampleParseList() {
	l, err := acl.ParseList([]string{"192.168.1.0/24", "2001:db8::/32"}, []string{"192.168.1.13"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range []string{"192.168.1.7", "::ffff:192.168.1.7", "192.168.1.13", "10.0.0.1"} {
		fmt.Println(a, l.Permit(netip.MustParseAddr(a)))
	}
	_, err = acl.ParseList([]string{"192.168.1.1/24"}, nil)
	fmt.Println(err)
	// Output:
	// 192.168.1.7 true
	// ::ffff:192.168.1.7 true
	// 192.168.1.13 false
	// 10.0.0.1 false
	// allow: invalid CIDR prefix "192.168.1.1/24": host bits set (did you mean 192.168.1.0/24?)
}

func ExamplePolicy_Check() {
	p := &acl.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}
	for _, a := range []string{"93.184.215.14", "10.0.0.5", "10.0.1.5", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe"} {
		err := p.Check(netip.MustParseAddr(a))
		var de *acl.DeniedError
		if errors.As(err, &de) {
			fmt.Printf("%s: denied (%s)\n", a, de.Reason)
		} else {
			fmt.Printf("%s: allowed\n", a)
		}
	}
	// Output:
	// 93.184.215.14: allowed
	// 10.0.0.5: allowed
	// 10.0.1.5: denied (private (RFC 1918))
	// ::ffff:127.0.0.1: denied (IPv4-mapped loopback)
	// 64:ff9b::a9fe:a9fe: denied (NAT64 link-local)
}
