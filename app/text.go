package app

import (
	"bytes"
	"net/netip"
)

// maxLine bounds a text protocol's line (FTP, SMTP, POP3, IMAP): a
// longer one is not read. RFC 5321 §4.5.3.1.6 allows 1,000 bytes for a
// line of SMTP text, RFC 3501 none for IMAP; 2 KiB holds what clients
// and servers send outside a message body.
const maxLine = 2048

// h2Preface is HTTP/2's connection preface (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Which text protocols a line fits, a bit per Kind.
const (
	fitFTP  = 1 << iota // an FTP command or a reply with a code
	fitSMTP             // an SMTP command or a reply with a code
	fitPOP3             // a POP3 command, or +OK/-ERR
	fitIMAP             // a tagged IMAP command or reply, or "* ..."
)

var fitKinds = [...]Kind{KindFTP, KindSMTP, KindPOP3, KindIMAP}

func fitOf(k Kind) uint8 {
	for i, f := range fitKinds {
		if f == k {
			return 1 << i
		}
	}
	return 0
}

// textCommands are the request words of FTP (RFC 959, 2389, 2428,
// 3659, 4217), SMTP (RFC 5321, 3207, 4954, 3030), POP3 (RFC 1939, 2449,
// 2595, 5034) and the protocols each is one of.
var textCommands = [...]struct {
	cmd string
	fit uint8
}{
	{"USER", fitFTP | fitPOP3}, {"PASS", fitFTP | fitPOP3}, {"ACCT", fitFTP}, {"CWD", fitFTP}, {"XCWD", fitFTP},
	{"CDUP", fitFTP}, {"XCUP", fitFTP}, {"SMNT", fitFTP}, {"REIN", fitFTP}, {"QUIT", fitFTP | fitSMTP | fitPOP3},
	{"PORT", fitFTP}, {"PASV", fitFTP}, {"EPRT", fitFTP}, {"EPSV", fitFTP}, {"LPRT", fitFTP}, {"LPSV", fitFTP},
	{"TYPE", fitFTP}, {"STRU", fitFTP}, {"MODE", fitFTP}, {"RETR", fitFTP | fitPOP3}, {"STOR", fitFTP}, {"STOU", fitFTP},
	{"APPE", fitFTP}, {"ALLO", fitFTP}, {"REST", fitFTP}, {"RNFR", fitFTP}, {"RNTO", fitFTP}, {"ABOR", fitFTP},
	{"DELE", fitFTP | fitPOP3}, {"RMD", fitFTP}, {"XRMD", fitFTP}, {"MKD", fitFTP}, {"XMKD", fitFTP}, {"PWD", fitFTP},
	{"XPWD", fitFTP}, {"LIST", fitFTP | fitPOP3}, {"NLST", fitFTP}, {"SITE", fitFTP}, {"SYST", fitFTP},
	{"STAT", fitFTP | fitPOP3}, {"HELP", fitFTP | fitSMTP}, {"NOOP", fitFTP | fitSMTP | fitPOP3}, {"FEAT", fitFTP},
	{"OPTS", fitFTP}, {"AUTH", fitFTP | fitSMTP | fitPOP3}, {"PBSZ", fitFTP}, {"PROT", fitFTP}, {"CCC", fitFTP},
	{"SIZE", fitFTP}, {"MDTM", fitFTP}, {"MLSD", fitFTP}, {"MLST", fitFTP}, {"LANG", fitFTP}, {"CLNT", fitFTP},
	{"HELO", fitSMTP}, {"EHLO", fitSMTP}, {"LHLO", fitSMTP}, {"MAIL", fitSMTP}, {"RCPT", fitSMTP}, {"DATA", fitSMTP},
	{"BDAT", fitSMTP}, {"RSET", fitSMTP | fitPOP3}, {"VRFY", fitSMTP}, {"EXPN", fitSMTP}, {"TURN", fitSMTP},
	{"ETRN", fitSMTP}, {"STARTTLS", fitSMTP}, {"APOP", fitPOP3}, {"TOP", fitPOP3}, {"UIDL", fitPOP3},
	{"CAPA", fitPOP3}, {"STLS", fitPOP3}, {"UTF8", fitPOP3},
}

// imapCommands are IMAP4rev1/rev2's command names (RFC 3501, 9051, and
// the common extensions: IDLE, ID, NAMESPACE, MOVE, ENABLE, quotas).
var imapCommands = [...]string{
	"CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "AUTHENTICATE", "LOGIN", "SELECT", "EXAMINE", "CREATE", "DELETE",
	"RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND", "CHECK", "CLOSE", "UNSELECT",
	"EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "UID", "IDLE", "DONE", "ID", "ENABLE", "NAMESPACE",
	"GETQUOTA", "GETQUOTAROOT", "SETQUOTA", "GETACL", "SETACL", "MYRIGHTS", "COMPRESS", "XLIST",
}

// imapStatus are the status words of IMAP's replies; imapData the names
// of untagged data the server sends.
var (
	imapStatus = [...]string{"OK", "NO", "BAD", "PREAUTH", "BYE"}
	imapData   = [...]string{"CAPABILITY", "LIST", "LSUB", "STATUS", "SEARCH", "FLAGS", "ENABLED", "ID", "NAMESPACE", "QUOTA", "QUOTAROOT", "ESEARCH"}
)

func inList(b []byte, list []string) bool {
	for _, s := range list {
		if asciiEqualFold(b, s) {
			return true
		}
	}
	return false
}

// commandFit is the protocols whose command cmd is (0: none).
func commandFit(cmd []byte) uint8 {
	if len(cmd) < 3 || len(cmd) > 8 {
		return 0
	}
	for _, c := range textCommands {
		if asciiEqualFold(cmd, c.cmd) {
			return c.fit
		}
	}
	return 0
}

// replyCode reads an FTP or SMTP reply's code (RFC 959 §4.2, RFC 5321
// §4.2): three digits, the first 1 to 5, then a space, a hyphen (a
// line of a multi-line reply) or the line's end.
func replyCode(line []byte) (int, bool) {
	if len(line) < 3 || line[0] < '1' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, false
	}
	if len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return 0, false
	}
	return int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0'), true
}

// isTag: an IMAP tag's characters (RFC 3501 §9: ASTRING-CHAR but "+").
func isTag(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' || c == '"' || c == '\\' || c == '+' {
			return false
		}
	}
	return true
}

func printableLine(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 || c >= 0x7f) && c != '\t' {
			return false
		}
	}
	return true
}

// decodeText reads the complete lines at the start of data as FTP,
// SMTP, POP3 or IMAP: by content when known is KindNone, else as known
// (a direction already found to carry it, where any line is taken: a
// reply's continuation, a message's text). The first line is the one
// decoded; the others complete lines up to the last line end are read
// with it, as one message, as tcpdump reads a segment.
func (s *StreamHead) decodeText(data []byte, known Kind) error {
	*s = StreamHead{}
	i := bytes.IndexByte(data[:min(len(data), maxLine)], '\n')
	if i < 0 {
		if len(data) >= maxLine || known == KindNone && !printableLine(data) {
			return ErrNotThis
		}
		return ErrShort
	}
	line := data[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if known == KindNone && (len(line) == 0 || !printableLine(line)) || !textBytes(line) {
		return ErrNotThis
	}
	end := i + 1
	if j := bytes.LastIndexByte(data[:min(len(data), maxHead)], '\n'); j > i {
		end = j + 1
	}
	fit := s.textLine(line, fitOf(known), known != KindNone)
	if fit == 0 {
		return ErrNotThis
	}
	s.Line, s.textLen, s.fits = line, end, fit
	for i, k := range fitKinds {
		if fit&(1<<i) != 0 {
			s.Kind = k
			break
		}
	}
	switch {
	case fit&fitFTP != 0 && fit&fitSMTP != 0 && s.Code != 0:
		// A reply with a code: a greeting says which, mostly.
		switch {
		case containsFold(line, "SMTP"):
			s.Kind, s.fits = KindSMTP, fitSMTP
		case containsFold(line, "FTP"):
			s.fits = fitFTP
		}
	}
	if s.fits&(s.fits-1) != 0 {
		// The lines read with the first may say which ("USER a" then
		// "PASV").
		var scratch StreamHead
		for rest := data[i+1 : end]; len(rest) > 0 && s.fits&(s.fits-1) != 0; {
			var l []byte
			l, rest, _ = bytes.Cut(rest, []byte("\n"))
			if f := scratch.textLine(bytes.TrimSuffix(l, []byte("\r")), s.fits, false); f != 0 {
				s.fits &= f
			}
		}
		for i, k := range fitKinds {
			if s.fits&(1<<i) != 0 {
				s.Kind = k
				break
			}
		}
	}
	s.Guessed = s.fits&(s.fits-1) != 0
	if s.Kind == KindFTP {
		s.ftpData()
	}
	return nil
}

// textLine parses line as each protocol in want would (0: all), filling
// the fields, and returns the protocols it fits; with anyText (a
// direction known to carry want), any line is its text.
func (s *StreamHead) textLine(line []byte, want uint8, anyText bool) uint8 {
	if want == 0 {
		want = fitFTP | fitSMTP | fitPOP3 | fitIMAP
	}
	if want&(fitFTP|fitSMTP) != 0 {
		if code, ok := replyCode(line); ok {
			s.Code, s.Response = code, true
			if len(line) > 4 {
				s.Arg = line[4:]
			}
			return want & (fitFTP | fitSMTP)
		}
	}
	if want&fitPOP3 != 0 {
		for _, ind := range [...]string{"+OK", "-ERR"} {
			if bytes.HasPrefix(line, []byte(ind)) && (len(line) == len(ind) || line[len(ind)] == ' ') {
				s.Reply, s.Response = line[:len(ind)], true
				if len(line) > len(ind) {
					s.Arg = line[len(ind)+1:]
				}
				return fitPOP3
			}
		}
	}
	first, rest, _ := bytes.Cut(line, []byte(" "))
	if f := commandFit(first) & want; f != 0 {
		s.Command, s.Arg = first, rest
		return f
	}
	if want&fitIMAP != 0 {
		tag := first
		word, arg, _ := bytes.Cut(rest, []byte(" "))
		switch {
		case string(tag) == "*" || string(tag) == "+" && anyText:
			s.Tag, s.Response = tag, true
			switch {
			case inList(word, imapStatus[:]):
				s.Reply, s.Arg = word, arg
			case inList(word, imapData[:]):
				s.Command, s.Arg = word, arg
			case allDigits(word):
				// "* 3 EXISTS", "* 1 FETCH (...)": a number, then the name.
				s.Command, _, _ = bytes.Cut(arg, []byte(" "))
				s.Arg = rest
			case !anyText:
				return 0
			default:
				s.Arg = rest
			}
			return fitIMAP
		case isTag(tag) && inList(word, imapStatus[:3]):
			s.Tag, s.Reply, s.Arg, s.Response = tag, word, arg, true
			return fitIMAP
		case isTag(tag) && inList(word, imapCommands[:]):
			s.Tag, s.Command, s.Arg = tag, word, arg
			if asciiEqualFold(word, "UID") {
				// "a1 UID FETCH 1 BODY[]": the command is FETCH, by
				// UID (as tshark names it).
				s.Command, s.Arg, _ = bytes.Cut(arg, []byte(" "))
			}
			return fitIMAP
		}
	}
	if anyText {
		return want // a body's line, a reply's continuation
	}
	return 0
}

// textBytes: no control characters but tab (8-bit bytes may be a
// mail's text): a line of a direction known to carry text, not the
// binary of what follows (TLS after STARTTLS).
func textBytes(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) > 0
}

func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if asciiEqualFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

// PreferPort settles a guessed kind (see Guessed) by the ports: where
// one of them is the well-known port of a protocol the line fits (FTP
// 21, SMTP 25 and 587, POP3 110, IMAP 143), that protocol.
func (s *StreamHead) PreferPort(sport, dport uint16) {
	if !s.Guessed {
		return
	}
	for _, p := range [...]uint16{sport, dport} {
		var k Kind
		switch p {
		case 21:
			k = KindFTP
		case 25, 587:
			k = KindSMTP
		case 110:
			k = KindPOP3
		case 143:
			k = KindIMAP
		}
		if f := fitOf(k); f != 0 && s.fits&f != 0 {
			s.Kind, s.fits, s.Guessed = k, f, false
			s.DataAddr = netip.AddrPort{}
			if k == KindFTP {
				s.ftpData()
			}
			return
		}
	}
}

// ftpData reads the data connection's address that a PORT or EPRT
// command or a 227 or 229 reply announces.
func (s *StreamHead) ftpData() {
	switch {
	case asciiEqualFold(s.Command, "PORT"):
		s.DataAddr = hostPort(s.Arg)
	case s.Code == 227:
		// RFC 1123 §4.1.2.6: the numbers are found by scanning for the
		// first digit, with or without the parentheses.
		for i, c := range s.Arg {
			if isDigit(c) {
				s.DataAddr = hostPort(s.Arg[i:])
				break
			}
		}
	case asciiEqualFold(s.Command, "EPRT"):
		s.DataAddr = eprt(s.Arg)
	case s.Code == 229:
		// "Entering Extended Passive Mode (|||6446|)": the port only
		// (RFC 2428 §3); the address is the control connection's.
		if i := bytes.IndexByte(s.Arg, '('); i >= 0 && i+1 < len(s.Arg) {
			f := s.Arg[i+1:]
			d := f[0]
			if len(f) > 4 && f[1] == d && f[2] == d {
				if port, n, ok := decimal(f[3:], 65535); ok && n < len(f)-3 && f[3+n] == d && port > 0 {
					s.DataAddr = netip.AddrPortFrom(netip.Addr{}, uint16(port))
				}
			}
		}
	}
}

// hostPort reads "h1,h2,h3,h4,p1,p2" (RFC 959 §4.1.2).
func hostPort(b []byte) netip.AddrPort {
	var v [6]int
	for i := range v {
		n, l, ok := decimal(b, 255)
		if !ok {
			return netip.AddrPort{}
		}
		v[i], b = n, b[l:]
		if i < 5 {
			if len(b) == 0 || b[0] != ',' {
				return netip.AddrPort{}
			}
			b = b[1:]
		}
	}
	a := netip.AddrFrom4([4]byte{byte(v[0]), byte(v[1]), byte(v[2]), byte(v[3])})
	return netip.AddrPortFrom(a, uint16(v[4]<<8|v[5]))
}

// eprt reads EPRT's "|1|132.235.1.2|6275|" or "|2|::1|6275|" (RFC 2428
// §2): any delimiter, as the first byte gives it.
func eprt(b []byte) netip.AddrPort {
	if len(b) < 8 {
		return netip.AddrPort{}
	}
	d := b[0]
	var f [3][]byte
	rest := b[1:]
	for i := range f {
		j := bytes.IndexByte(rest, d)
		if j < 0 {
			return netip.AddrPort{}
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	if len(f[0]) != 1 || (f[0][0] != '1' && f[0][0] != '2') {
		return netip.AddrPort{}
	}
	port, n, ok := decimal(f[2], 65535)
	if !ok || n != len(f[2]) || port == 0 {
		return netip.AddrPort{}
	}
	var a netip.Addr
	if f[0][0] == '1' {
		a = parse4(f[1])
	} else {
		if err := a.UnmarshalText(f[1]); err != nil || !a.Is6() || a.Zone() != "" {
			return netip.AddrPort{}
		}
	}
	if !a.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, uint16(port))
}

// parse4 reads a dotted quad.
func parse4(b []byte) netip.Addr {
	var v [4]byte
	for i := range v {
		n, l, ok := decimal(b, 255)
		if !ok {
			return netip.Addr{}
		}
		v[i], b = byte(n), b[l:]
		if i < 3 {
			if len(b) == 0 || b[0] != '.' {
				return netip.Addr{}
			}
			b = b[1:]
		}
	}
	if len(b) != 0 {
		return netip.Addr{}
	}
	return netip.AddrFrom4(v)
}

// decimal reads the decimal number at the start of b, at most limit,
// and how many bytes it took.
func decimal(b []byte, limit int) (v, n int, ok bool) {
	for n < len(b) && isDigit(b[n]) && n < 6 {
		v = v*10 + int(b[n]-'0')
		n++
	}
	return v, n, n > 0 && v <= limit
}

// AppendFTP and AppendSMTP append what tcpdump -nn (4.99) prints for a
// TCP payload on FTP's port (21) and SMTP's (25): "FTP: " or "SMTP: "
// and the payload's first line, when it is printable text ending in a
// line end; the protocol's name alone when it is not; " [|ftp]" after
// the text that the capture cuts. data is the payload captured, length
// its length on the wire.
func AppendFTP(b, data []byte, length int) []byte {
	return appendTextProto(b, "FTP", " [|ftp]", data, length, nil)
}

// AppendSMTP: see [AppendFTP].
func AppendSMTP(b, data []byte, length int) []byte {
	return appendTextProto(b, "SMTP", " [|smtp]", data, length, nil)
}

// appendTextSummary is the one-line summary of a text protocol's
// message, in the form tcpdump prints it on FTP's and SMTP's ports.
func (s *StreamHead) appendTextSummary(b []byte) []byte {
	switch s.Kind {
	case KindFTP:
		b = append(b, "FTP: "...)
	case KindSMTP:
		b = append(b, "SMTP: "...)
	case KindPOP3:
		b = append(b, "POP3: "...)
	case KindIMAP:
		b = append(b, "IMAP: "...)
	}
	return appendPrintable(b, s.Line)
}
