package scan

// The one table of what an ICMP or ICMPv6 Destination Unreachable
// message means for a probed port, for the SYN and the UDP scan alike:
// port unreachable is closed, every other code filtered, each with the
// reason nmap's XML gives it. The codes are RFC 792's and RFC 4443's.

// icmpUnreach returns the state and reason of a Destination Unreachable
// message (ICMP type 3, ICMPv6 type 1) with code.
func icmpUnreach(v6 bool, code uint8) (State, string) {
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

// icmpReason is the reason of a Destination Unreachable message.
func icmpReason(v6 bool, code uint8) string {
	_, reason := icmpUnreach(v6, code)
	return reason
}

// icmpState is the state and reason of an ICMP error of type typ and
// code; StateUnknown and "" for a type other than Destination
// Unreachable.
func icmpState(v6 bool, typ, code uint8) (State, string) {
	if v6 && typ != 1 || !v6 && typ != 3 {
		return StateUnknown, ""
	}
	return icmpUnreach(v6, code)
}
