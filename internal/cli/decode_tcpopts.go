package cli

import (
	"encoding/binary"
	"strconv"

	"github.com/portkit/ports/wire"
)

// appendTCPOptions formats the options of a TCP header as tcpdump's
// one-line view does: ", options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 6]".
// raw is the option bytes captured, hlen the option bytes the data offset
// claims. SACK blocks are relative to the connection's base, as tcpdump
// shows them. It reports false when tcpdump ends the line in the options:
// at an impossible length ("[bad opt]") or where the capture cut them
// (" [|tcp]"), both already appended.
func appendTCPOptions(b []byte, raw []byte, hlen int, st *seqView, flags wire.TCPFlags) ([]byte, bool) {
	b = append(b, ", options ["...)
	sep := false
	cp := 0
	for hlen > 0 {
		if sep {
			b = append(b, ',')
		}
		if cp >= len(raw) {
			return append(b, " [|tcp]"...), false
		}
		opt := wire.TCPOptionKind(raw[cp])
		cp++
		olen := 1
		zeroLen := opt == wire.TCPOptEOL || opt == wire.TCPOptNOP
		if !zeroLen {
			if cp >= len(raw) {
				return append(b, " [|tcp]"...), false
			}
			olen = int(raw[cp])
			cp++
			if olen < 2 || olen > hlen {
				return badOpt(b, sep), false
			}
			hlen--
		}
		hlen--
		datalen := 0
		name, known := tcpOptNames[opt]
		if !known {
			name = "unknown-" + strconv.Itoa(int(opt))
		}
		b = append(b, name...)
		// check is tcpdump's LENCHECK: l bytes of data must be left in the
		// header and captured.
		check := func(l int) (bad, cut bool) {
			if l > hlen {
				return true, false
			}
			return false, cp+l > len(raw)
		}
		var bad, cut bool
		switch opt {
		case wire.TCPOptMSS:
			datalen = 2
			if bad, cut = check(2); !bad && !cut {
				b = append(b, ' ')
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(raw[cp:])), 10)
			}
		case wire.TCPOptWScale:
			datalen = 1
			if bad, cut = check(1); !bad && !cut {
				b = append(b, ' ')
				b = strconv.AppendUint(b, uint64(raw[cp]), 10)
			}
		case wire.TCPOptSACK:
			datalen = olen - 2
			if datalen%8 != 0 {
				b = append(b, " invalid sack"...)
				break
			}
			b = append(b, ' ')
			b = strconv.AppendUint(b, uint64(datalen/8), 10)
			b = append(b, ' ')
			for i := 0; i < datalen; i += 8 {
				if bad, cut = check(i + 8); bad || cut {
					break
				}
				s, e := binary.BigEndian.Uint32(raw[cp+i:]), binary.BigEndian.Uint32(raw[cp+i+4:])
				if st.rev {
					s, e = s-st.thSeq, e-st.thSeq
				} else {
					s, e = s-st.thAck, e-st.thAck
				}
				b = append(b, '{')
				b = strconv.AppendUint(b, uint64(s), 10)
				b = append(b, ':')
				b = strconv.AppendUint(b, uint64(e), 10)
				b = append(b, '}')
			}
		case 6, 7, 11, 12, 13: // echo, echo reply (RFC 1072), CC, CC.NEW, CC.ECHO (RFC 1644)
			datalen = 4
			if bad, cut = check(4); !bad && !cut {
				b = append(b, ' ')
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(raw[cp:])), 10)
			}
		case wire.TCPOptTimestamps:
			datalen = 8
			if bad, cut = check(8); !bad && !cut {
				b = append(b, " val "...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(raw[cp:])), 10)
				b = append(b, " ecr "...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(raw[cp+4:])), 10)
			}
		case wire.TCPOptMD5:
			datalen = 16
			if bad, cut = check(16); !bad && !cut {
				// tcpdump cannot check it without the secret (-M).
				b = append(b, " shared secret not supplied with -M, can't check - "...)
				b = appendHexBytes(b, raw[cp:cp+16])
			}
		case 20: // SCPS
			datalen = 2
			if bad, cut = check(2); !bad && !cut {
				b = append(b, " cap "...)
				b = appendHexBytes(b, raw[cp:cp+1])
				b = append(b, " id "...)
				b = strconv.AppendUint(b, uint64(raw[cp+1]), 10)
			}
		case wire.TCPOptAO:
			datalen = olen - 2
			if datalen < 2 {
				b = append(b, " (invalid)"...)
				break
			}
			if bad, cut = check(1); bad || cut {
				break
			}
			b = append(b, " keyid "...)
			b = strconv.AppendUint(b, uint64(raw[cp]), 10)
			if bad, cut = check(2); bad || cut {
				break
			}
			b = append(b, " rnextkeyid "...)
			b = strconv.AppendUint(b, uint64(raw[cp+1]), 10)
			if datalen > 2 {
				b = append(b, " mac 0x"...)
				for i := 2; i < datalen; i++ {
					if bad, cut = check(i + 1); bad || cut {
						break
					}
					b = appendHexBytes(b, raw[cp+i:cp+i+1])
				}
			}
		case wire.TCPOptEOL, wire.TCPOptNOP, wire.TCPOptSACKPermitted:
		case wire.TCPOptUserTimeout:
			datalen = 2
			if bad, cut = check(2); !bad && !cut {
				v := binary.BigEndian.Uint16(raw[cp:])
				b = append(b, " 0x"...)
				b = strconv.AppendUint(b, uint64(v), 16)
				if v&1 != 0 {
					v = (v >> 1) * 60
				} else {
					v >>= 1
				}
				b = append(b, ' ')
				b = strconv.AppendUint(b, uint64(v), 10)
			}
		case wire.TCPOptMPTCP:
			datalen = olen - 2
			if bad, cut = check(datalen); !bad && !cut {
				var ok bool
				b, ok = appendMPTCP(b, raw[cp-2:cp+datalen], flags)
				bad = !ok
			}
		case wire.TCPOptFastOpen:
			datalen = olen - 2
			if bad, cut = check(datalen); !bad && !cut {
				b = append(b, ' ')
				b = appendFastOpen(b, raw[cp:cp+datalen], false)
			}
		case wire.TCPOptExp2:
			datalen = olen - 2
			if bad, cut = check(datalen); bad || cut {
				break
			}
			if datalen < 2 {
				bad = true
				break
			}
			b = append(b, '-')
			if magic := binary.BigEndian.Uint16(raw[cp:]); magic == 0xf989 {
				b = appendFastOpen(b, raw[cp+2:cp+datalen], true)
			} else {
				b = appendHex16(b, magic)
			}
		default:
			datalen = olen - 2
			if datalen > 0 {
				b = append(b, " 0x"...)
			}
			for i := 0; i < datalen; i++ {
				if bad, cut = check(i + 1); bad || cut {
					break
				}
				b = appendHexBytes(b, raw[cp+i:cp+i+1])
			}
		}
		if bad {
			return badOpt(b, sep), false
		}
		if cut {
			// A value cut short (tcpdump's LENCHECK) closes with '>'.
			b = append(b, " [|tcp]"...)
			if sep {
				b = append(b, '>')
			}
			return b, false
		}
		cp += datalen
		hlen -= datalen
		// The length the option claims against the length of its kind.
		want := datalen + 1
		if !zeroLen {
			want++
		}
		if want != olen {
			b = append(b, "[len "...)
			b = strconv.AppendUint(b, uint64(olen), 10)
			b = append(b, ']')
		}
		sep = true
		if opt == wire.TCPOptEOL {
			break
		}
	}
	return append(b, ']'), true
}

// badOpt ends the options as tcpdump does on an impossible length: it
// closes the bracket only after a first option.
func badOpt(b []byte, sep bool) []byte {
	b = append(b, "[bad opt]"...)
	if sep {
		b = append(b, ']')
	}
	return b
}

// tcpOptNames are tcpdump's names of TCP option kinds; others are
// "unknown-N".
var tcpOptNames = map[wire.TCPOptionKind]string{
	wire.TCPOptEOL: "eol", wire.TCPOptNOP: "nop", wire.TCPOptMSS: "mss", wire.TCPOptWScale: "wscale",
	wire.TCPOptSACKPermitted: "sackOK", wire.TCPOptSACK: "sack", 6: "echo", 7: "echoreply",
	wire.TCPOptTimestamps: "TS", 11: "cc", 12: "ccnew", 13: "", wire.TCPOptMD5: "md5", 20: "scps",
	wire.TCPOptUserTimeout: "uto", wire.TCPOptAO: "tcp-ao", wire.TCPOptMPTCP: "mptcp",
	wire.TCPOptFastOpen: "tfo", wire.TCPOptExp2: "exp",
}

// appendFastOpen formats a TCP Fast Open option's value (RFC 7413).
func appendFastOpen(b []byte, v []byte, exp bool) []byte {
	if exp {
		b = append(b, "tfo"...)
	}
	switch {
	case len(v) == 0:
		b = append(b, " cookiereq"...)
	case len(v)%2 != 0 || len(v) < 4 || len(v) > 16:
		b = append(b, " (invalid)"...)
	default:
		b = append(b, " cookie "...)
		b = appendHexBytes(b, v)
	}
	return b
}

const hexDigits = "0123456789abcdef"

func appendHexBytes(b []byte, v []byte) []byte {
	for _, c := range v {
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}

func appendHex16(b []byte, v uint16) []byte {
	return appendHexBytes(b, []byte{byte(v >> 8), byte(v)})
}

// mptcpSubtypes are tcpdump's names of MPTCP option subtypes (RFC 8684).
var mptcpSubtypes = [...]string{"capable", "join", "dss", "add-addr", "remove-addr", "prio", "fail", "fast-close", "unknown"}

// appendMPTCP formats an MPTCP option (opt: kind, length and value) as
// tcpdump 4.99 does: " LEN SUBTYPE ...". MP_CAPABLE is decoded in full;
// the other subtypes are named only. It reports false where tcpdump
// calls the option bad.
func appendMPTCP(b []byte, opt []byte, flags wire.TCPFlags) ([]byte, bool) {
	n := len(opt)
	if n < 3 {
		return b, false
	}
	sub := min(int(opt[2]>>4), len(mptcpSubtypes)-1)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(n), 10)
	b = append(b, ' ')
	b = append(b, mptcpSubtypes[sub]...)
	if sub != 0 {
		return b, true
	}
	syn := flags.Has(wire.TCPSyn)
	if !((n == 12 || n == 4) && syn) && !((n == 20 || n == 22) && flags&(wire.TCPSyn|wire.TCPAck) == wire.TCPAck) {
		return b, false
	}
	switch v := opt[2] & 15; v {
	case 0, 1:
		b = append(b, " v"...)
		b = strconv.AppendUint(b, uint64(v), 10)
	default:
		b = append(b, " Unknown Version ("...)
		b = strconv.AppendUint(b, uint64(v), 10)
		return append(b, ')'), true
	}
	if n >= 4 && opt[3]&0x80 != 0 {
		b = append(b, " csum"...)
	}
	if n == 12 || n >= 20 {
		b = append(b, " {0x"...)
		b = strconv.AppendUint(b, binary.BigEndian.Uint64(opt[4:]), 16)
		if n >= 20 {
			b = append(b, ",0x"...)
			b = strconv.AppendUint(b, binary.BigEndian.Uint64(opt[12:]), 16)
		}
		b = append(b, '}')
	}
	return b, true
}
