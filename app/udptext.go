package app

import (
	"encoding/binary"
	"strconv"
)

// The printers of this file follow what tcpdump 4.99 prints without -v
// for the UDP protocols it decodes by default besides DNS. Each takes
// the datagram's payload as captured (up to the IP length: tcpdump
// reads that far) and its length by the UDP header (or the IP header,
// if shorter), and marks a payload cut by the capture as tcpdump does
// (" [|ntp]").

// AppendNTP appends tcpdump's "NTPv4, Client, length 48".
func AppendNTP(b, data []byte, length int) []byte {
	if len(data) < 1 {
		return append(b, " [|ntp]"...)
	}
	b = append(b, "NTPv"...)
	b = strconv.AppendUint(b, uint64(data[0]>>3&7), 10)
	b = append(b, ", "...)
	b = append(b, ntpModes[data[0]&7]...)
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(length), 10)
}

var ntpModes = [8]string{"unspecified", "symmetric active", "symmetric passive", "Client", "Server", "Broadcast", "Control Message", "Reserved"}

// AppendTFTP appends tcpdump's `TFTP, length 17, RRQ "file" octet`:
// the opcode, then the request's file name, mode and options, a block
// number, or an error's code and message.
func AppendTFTP(b, data []byte, length int) []byte {
	b, _ = appendTFTP(b, data, length)
	return b
}

// appendTFTP reports too whether tcpdump's printer would end by a
// longjmp: a number or an option read past the capture, where a string
// cut short ends it by return.
func appendTFTP(b, data []byte, length int) ([]byte, bool) {
	b = append(b, "TFTP, length "...)
	b = strconv.AppendInt(b, int64(length), 10)
	if length < 2 || len(data) < 2 {
		return append(b, tftpTrunc...), length >= 2
	}
	t := tftpText{b: b, rest: data[2:], n: length - 2}
	switch op := binary.BigEndian.Uint16(data); op {
	case 1, 2:
		t.str(tftpOps[op])
		if t.n == 0 {
			break
		}
		t.str(` "`)
		ok := t.field()
		t.str(`"`)
		if !ok || t.n == 0 {
			break
		}
		t.str(" ")
		if t.field() {
			return t.b, t.options()
		}
	case 6:
		t.str(tftpOps[op])
		return t.b, t.options()
	case 3, 4:
		t.str(tftpOps[op])
		if t.n < 2 || len(t.rest) < 2 {
			return append(t.b, tftpTrunc...), t.n >= 2
		}
		t.str(" block ")
		return strconv.AppendUint(t.b, uint64(binary.BigEndian.Uint16(t.rest)), 10), false
	case 5:
		t.str(tftpOps[op])
		if t.n < 2 || len(t.rest) < 2 {
			return append(t.b, tftpTrunc...), t.n >= 2
		}
		code := binary.BigEndian.Uint16(t.rest)
		t.rest, t.n = t.rest[2:], t.n-2
		if int(code) < len(tftpErrors) {
			t.str(" ")
			t.str(tftpErrors[code])
		} else {
			// tcpdump's format for an unknown code has a stray quote.
			t.str(" tftp-err-#")
			t.b = strconv.AppendUint(t.b, uint64(code), 10)
			t.str(` "`)
		}
		if t.n == 0 {
			break
		}
		t.str(` "`)
		ok := t.field()
		t.str(`"`)
		if ok {
			return t.b, false
		}
	default:
		t.str(", tftp-#")
		return strconv.AppendUint(t.b, uint64(op), 10), false
	}
	return append(t.b, tftpTrunc...), false
}

const tftpTrunc = " [|tftp]"

var tftpOps = [...]string{1: ", RRQ", 2: ", WRQ", 3: ", DATA", 4: ", ACK", 5: ", ERROR", 6: ", OACK"}

var tftpErrors = [...]string{"EUNDEF", "ENOTFOUND", "EACCESS", "ENOSPACE", "EBADOP", "EBADID", "EEXISTS", "ENOUSER"}

// tftpText reads a TFTP message's strings: rest is what was captured of
// it, n what is left of its length.
type tftpText struct {
	b    []byte
	rest []byte
	n    int
}

func (t *tftpText) str(s string) { t.b = append(t.b, s...) }

// field prints one NUL-ended string; false where the length or the
// capture ends first.
func (t *tftpText) field() bool {
	for t.n > 0 && len(t.rest) > 0 {
		c := t.rest[0]
		t.rest, t.n = t.rest[1:], t.n-1
		if c == 0 {
			return true
		}
		t.b = appendChar(t.b, c)
	}
	return false
}

// options prints the strings left, each after a space unless empty;
// true where it read past the capture (a longjmp in tcpdump).
func (t *tftpText) options() bool {
	for t.n > 0 {
		if len(t.rest) == 0 {
			t.str(tftpTrunc)
			return true
		}
		if t.rest[0] != 0 {
			t.str(" ")
		}
		if !t.field() {
			t.str(tftpTrunc)
			return false
		}
	}
	return false
}

// AppendBOOTP appends tcpdump's "BOOTP/DHCP, Request from
// 52:54:00:12:34:56, length 300".
func AppendBOOTP(b, data []byte, length int) []byte {
	const trunc = " [|bootp]"
	if len(data) < 1 {
		return append(b, trunc...)
	}
	b = append(b, "BOOTP/DHCP, "...)
	switch op := data[0]; op {
	case 1:
		b = append(b, "Request"...)
	case 2:
		b = append(b, "Reply"...)
	default:
		b = append(b, "unknown (0x"...)
		b = append(b, hexDigits[op>>4], hexDigits[op&15], ')')
	}
	if len(data) < 3 {
		return append(b, trunc...)
	}
	// The client's hardware address where it is an Ethernet one, on a
	// request.
	if data[0] == 1 && data[1] == 1 && data[2] == 6 {
		if len(data) < 28+6 {
			return append(b, trunc...)
		}
		b = append(b, " from "...)
		for i, c := range data[28 : 28+6] {
			if i > 0 {
				b = append(b, ':')
			}
			b = append(b, hexDigits[c>>4], hexDigits[c&15])
		}
	}
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(length), 10)
}

const hexDigits = "0123456789abcdef"

// AppendSyslog appends tcpdump's "SYSLOG user.notice, length: 30", from
// the priority between < and > (at most three digits) that starts a
// BSD syslog message.
func AppendSyslog(b, data []byte, length int) []byte {
	const trunc, invalid = " [|syslog]", " (invalid)"
	if len(data) < 1 {
		return append(b, trunc...)
	}
	if data[0] != '<' {
		return append(b, invalid...)
	}
	pri, off := 0, 1
	for ; off <= 3; off++ {
		if off >= len(data) {
			return append(b, trunc...)
		}
		if !isDigit(data[off]) {
			break
		}
		pri = pri*10 + int(data[off]-'0')
	}
	if off >= len(data) {
		return append(b, trunc...)
	}
	if data[off] != '>' {
		return append(b, invalid...)
	}
	b = append(b, "SYSLOG "...)
	if f := pri >> 3 & 0x7f; f < len(syslogFacilities) {
		b = append(b, syslogFacilities[f]...)
	} else {
		b = append(b, "unknown ("...)
		b = append(strconv.AppendInt(b, int64(f), 10), ')')
	}
	b = append(b, '.')
	b = append(b, syslogSeverities[pri&7]...)
	b = append(b, ", length: "...)
	return strconv.AppendInt(b, int64(length), 10)
}

var (
	syslogFacilities = [...]string{
		"kernel", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
		"ntp", "security", "console", "cron", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
	}
	syslogSeverities = [8]string{"emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"}
)

// AppendRIP appends tcpdump's "RIPv2, Response, length: 24"; for
// version 0, which RFC 1058 says to ignore, tcpdump dumps the datagram
// in hex on the lines after.
func AppendRIP(b, data []byte, length int) []byte {
	if min(len(data), length) < 4 {
		return append(b, " [|rip]"...)
	}
	b = append(b, "RIPv"...)
	b = strconv.AppendUint(b, uint64(data[1]), 10)
	if data[1] == 0 {
		return AppendHexLines(b, data[:min(len(data), length)], "\n\t")
	}
	b = append(b, ", "...)
	if c := data[0]; c >= 1 && int(c) < len(ripCommands) {
		b = append(b, ripCommands[c]...)
	} else {
		b = append(b, "unknown command ("...)
		b = append(strconv.AppendUint(b, uint64(c), 10), ')')
	}
	b = append(b, ", length: "...)
	return strconv.AppendInt(b, int64(length), 10)
}

var ripCommands = [...]string{1: "Request", 2: "Response", 3: "Trace on", 4: "Trace off", 5: "Poll", 6: "Poll Entry"}

// AppendHexLines appends data as tcpdump's hex_print does (-x, and the
// dumps of some printers): 16 bytes a line, each line after indent
// with its offset, the bytes in pairs.
func AppendHexLines(b, data []byte, indent string) []byte {
	for i := 0; i < len(data); i++ {
		if i%16 == 0 {
			b = append(b, indent...)
			b = append(b, "0x"...)
			b = appendHex16(b, uint16(i))
			b = append(b, ": "...)
		}
		if i%2 == 0 {
			b = append(b, ' ')
		}
		b = append(b, hexDigits[data[i]>>4], hexDigits[data[i]&15])
	}
	return b
}

func appendHex16(b []byte, v uint16) []byte {
	return append(b, hexDigits[v>>12], hexDigits[v>>8&15], hexDigits[v>>4&15], hexDigits[v&15])
}

// AppendHexASCII appends data as tcpdump's hex_and_ascii_print does
// (-X): each line after indent with its offset, 16 bytes in pairs, then
// the bytes that are graphic characters, dots for the others.
func AppendHexASCII(b, data []byte, indent string) []byte {
	for off := 0; off < len(data); off += 16 {
		line := data[off:min(off+16, len(data))]
		b = append(b, indent...)
		b = append(b, "0x"...)
		b = appendHex16(b, uint16(off))
		b = append(b, ": "...)
		// The hex is padded to 40 columns: 8 pairs of " hhhh".
		start := len(b)
		for i, c := range line {
			if i%2 == 0 {
				b = append(b, ' ')
			}
			b = append(b, hexDigits[c>>4], hexDigits[c&15])
		}
		for len(b)-start < 40 {
			b = append(b, ' ')
		}
		b = append(b, "  "...)
		for _, c := range line {
			if c < 0x21 || c > 0x7e {
				c = '.'
			}
			b = append(b, c)
		}
	}
	return b
}

// AppendASCII appends data as tcpdump's ascii_print does (-A), after a
// line break: graphic characters, spaces, tabs and line breaks as they
// are, dots for the others; a CR before an LF, or among the last two
// bytes, is left out.
func AppendASCII(b, data []byte) []byte {
	b = append(b, '\n')
	for i, c := range data {
		switch {
		case c == '\r':
			if len(data)-i-1 > 1 && data[i+1] != '\n' {
				b = append(b, '.')
			}
		case c >= 0x21 && c <= 0x7e, c == '\t', c == ' ', c == '\n':
			b = append(b, c)
		default:
			b = append(b, '.')
		}
	}
	return b
}
