package cli

import (
	"encoding/binary"
	"net/netip"
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

// mptcpSubtypes are tcpdump 4.99's names of MPTCP option subtypes
// (RFC 8684); 8 and above are "unknown".
var mptcpSubtypes = [...]string{"capable", "join", "dss", "add-addr", "rem-addr", "prio", "fail", "fast-close", "unknown"}

// appendMPTCP formats an MPTCP option (opt: kind, length and value) as
// tcpdump 4.99 does: " LEN SUBTYPE ...". It reports false where tcpdump
// calls the option bad.
func appendMPTCP(b []byte, opt []byte, flags wire.TCPFlags) ([]byte, bool) {
	n := len(opt)
	if n < 3 {
		return b, false
	}
	be := binary.BigEndian
	sub := min(int(opt[2]>>4), len(mptcpSubtypes)-1)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(n), 10)
	b = append(b, ' ')
	b = append(b, mptcpSubtypes[sub]...)
	syn, ack := flags.Has(wire.TCPSyn), flags.Has(wire.TCPAck)
	hex := func(v uint64) { b = strconv.AppendUint(append(b, "0x"...), v, 16) }
	switch sub {
	case 0: // MP_CAPABLE
		if !((n == 12 || n == 4) && syn) && !((n == 20 || n == 22) && ack && !syn) {
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
			b = append(b, " {"...)
			hex(be.Uint64(opt[4:]))
			if n >= 20 {
				b = append(b, ',')
				hex(be.Uint64(opt[12:]))
			}
			b = append(b, '}')
		}
	case 1: // MP_JOIN
		if !(n == 12 && syn) && !(n == 16 && syn && ack) && !(n == 24 && ack) {
			return b, false
		}
		if n != 24 {
			if opt[2]&1 != 0 {
				b = append(b, " backup"...)
			}
			b = append(b, " id "...)
			b = strconv.AppendUint(b, uint64(opt[3]), 10)
		}
		switch n {
		case 12:
			b = append(b, " token "...)
			hex(uint64(be.Uint32(opt[4:])))
			b = append(b, " nonce "...)
			hex(uint64(be.Uint32(opt[8:])))
		case 16:
			b = append(b, " hmac "...)
			hex(be.Uint64(opt[4:]))
			b = append(b, " nonce "...)
			hex(uint64(be.Uint32(opt[12:])))
		case 24:
			b = append(b, " hmac 0x"...)
			b = appendHexBytes(b, opt[4:24])
		}
	case 2: // DSS
		if n < 4 {
			return b, false
		}
		f := opt[3]
		rest := opt[4:]
		need := 0
		if f&0x01 != 0 {
			need += 4 + 4*int(f>>1&1)
		}
		if f&0x04 != 0 {
			need += 10 + 4*int(f>>3&1)
		}
		if need > len(rest) {
			return b, false
		}
		if f&0x10 != 0 {
			b = append(b, " fin"...)
		}
		num := func(wide bool) {
			if wide {
				b = strconv.AppendUint(b, be.Uint64(rest), 10)
				rest = rest[8:]
			} else {
				b = strconv.AppendUint(b, uint64(be.Uint32(rest)), 10)
				rest = rest[4:]
			}
		}
		if f&0x01 != 0 {
			b = append(b, " ack "...)
			num(f&0x02 != 0)
		}
		if f&0x04 != 0 {
			b = append(b, " seq "...)
			num(f&0x08 != 0)
			b = append(b, " subseq "...)
			b = strconv.AppendUint(b, uint64(be.Uint32(rest)), 10)
			b = append(b, " len "...)
			b = strconv.AppendUint(b, uint64(be.Uint16(rest[4:])), 10)
			if rest = rest[6:]; len(rest) == 2 {
				b = append(b, " csum "...)
				hex(uint64(be.Uint16(rest)))
			}
		}
	case 3: // ADD_ADDR
		switch n {
		case 8, 10, 16, 18, 20, 22, 28, 30:
		default:
			return b, false
		}
		b = append(b, " v1"...)
		if opt[2]&1 != 0 {
			b = append(b, "-echo"...)
		}
		b = append(b, " id "...)
		b = strconv.AppendUint(b, uint64(opt[3]), 10)
		alen := 4
		if n >= 20 {
			alen = 16
		}
		b = append(b, ' ')
		b = netipAppend(b, opt[4:4+alen])
		rest := opt[4+alen:]
		if len(rest)%8 == 2 {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(be.Uint16(rest)), 10)
			rest = rest[2:]
		}
		if len(rest) == 8 {
			b = append(b, " hmac "...)
			hex(be.Uint64(rest))
		}
	case 4: // REMOVE_ADDR
		b = append(b, " id"...)
		for _, id := range opt[3:] {
			b = append(b, ' ')
			b = strconv.AppendUint(b, uint64(id), 10)
		}
	case 5: // MP_PRIO
		if n != 3 && n != 4 {
			return b, false
		}
		if opt[2]&1 != 0 {
			b = append(b, " backup"...)
		} else {
			b = append(b, " non-backup"...)
		}
		if n == 4 {
			b = append(b, " id "...)
			b = strconv.AppendUint(b, uint64(opt[3]), 10)
		}
	case 6, 7: // MP_FAIL, MP_FASTCLOSE
		if n != 12 {
			return b, false
		}
		if sub == 6 {
			b = append(b, " seq "...)
			b = strconv.AppendUint(b, be.Uint64(opt[4:]), 10)
		} else {
			b = append(b, " key "...)
			hex(be.Uint64(opt[4:]))
		}
	}
	return b, true
}

// netipAppend appends an IPv4 (4 bytes) or IPv6 (16) address.
func netipAppend(b []byte, a []byte) []byte {
	if ip, ok := netip.AddrFromSlice(a); ok {
		return ip.AppendTo(b)
	}
	return b
}
