package scan

import (
	"errors"
	"syscall"
)

// The one table of what an ICMP or ICMPv6 Destination Unreachable
// message means for a probed port, for the SYN and the UDP scan alike,
// and of the errors by which the kernel reports one (or the lack of a
// route) to the connect and UDP scans and to the SYN scan's sends: port
// unreachable is closed, every other code filtered, each with the
// reason nmap's XML gives it; and which codes speak for the whole host
// (hostLevelICMP). The codes are RFC 792's and RFC 4443's.

// Reasons, in nmap's words, for a port that an ICMP error (or the
// kernel's report of one) closed or filtered.
const (
	ReasonPortUnreach     = "port-unreach"     // ICMP code 3, ICMPv6 code 4: closed
	ReasonNetUnreach      = "net-unreach"      // ICMP code 0; ENETUNREACH: no route
	ReasonHostUnreach     = "host-unreach"     // ICMP code 1; EHOSTUNREACH, EHOSTDOWN: no neighbour answered
	ReasonProtoUnreach    = "proto-unreach"    // ICMP code 2
	ReasonNetProhibited   = "net-prohibited"   // ICMP code 9
	ReasonHostProhibited  = "host-prohibited"  // ICMP code 10
	ReasonAdminProhibited = "admin-prohibited" // ICMP code 13, ICMPv6 code 1
	ReasonNoRoute         = "no-route"         // ICMPv6 code 0
	ReasonBeyondScope     = "beyond-scope"     // ICMPv6 code 2
	ReasonAddrUnreach     = "addr-unreach"     // ICMPv6 code 3
	ReasonRejectRoute     = "reject-route"     // ICMPv6 codes 5 and 6
	ReasonUnreach         = "unreach"          // another ICMP unreachable code
)

// icmpState is the state and reason of an ICMP (v6 false) or ICMPv6
// error of type typ and code; StateUnknown and "" for a type other than
// Destination Unreachable (ICMP type 3, ICMPv6 type 1).
func icmpState(v6 bool, typ, code uint8) (State, string) {
	if v6 && typ != 1 || !v6 && typ != 3 {
		return StateUnknown, ""
	}
	if !v6 {
		switch code {
		case 0:
			return StateFiltered, ReasonNetUnreach
		case 1:
			return StateFiltered, ReasonHostUnreach
		case 2:
			return StateFiltered, ReasonProtoUnreach
		case 3:
			return StateClosed, ReasonPortUnreach
		case 9:
			return StateFiltered, ReasonNetProhibited
		case 10:
			return StateFiltered, ReasonHostProhibited
		case 13:
			return StateFiltered, ReasonAdminProhibited
		}
		return StateFiltered, ReasonUnreach
	}
	switch code {
	case 0:
		return StateFiltered, ReasonNoRoute
	case 1:
		return StateFiltered, ReasonAdminProhibited
	case 2:
		return StateFiltered, ReasonBeyondScope
	case 3:
		return StateFiltered, ReasonAddrUnreach
	case 4:
		return StateClosed, ReasonPortUnreach
	case 5, 6:
		return StateFiltered, ReasonRejectRoute
	}
	return StateFiltered, ReasonUnreach
}

// unreachCodeReason is the reason of a Destination Unreachable message
// (ICMP type 3, ICMPv6 type 1) with code.
func unreachCodeReason(v6 bool, code uint8) string {
	typ := uint8(3)
	if v6 {
		typ = 1
	}
	_, r := icmpState(v6, typ, code)
	return r
}

// hostLevelICMP reports whether an ICMP or ICMPv6 unreachable code says
// the whole host cannot be reached (network or host unreachable, no
// route, address unreachable: what a router or the local stack sends
// when neighbour resolution fails), rather than something about one port.
func hostLevelICMP(v6 bool, code uint8) bool {
	if v6 {
		return code == 0 || code == 3
	}
	return code == 0 || code == 1
}

// unreachReason is the reason of a filtered port for an error by which
// the kernel says the host cannot be reached (an ICMP unreachable it
// received, or no route or neighbour), or "" if err says nothing about
// the port.
func unreachReason(err error) string {
	switch {
	case errors.Is(err, syscall.ENETUNREACH):
		return ReasonNetUnreach
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return ReasonHostUnreach
	}
	return ""
}
