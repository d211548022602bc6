package probe

import (
	"bytes"
	"strconv"
	"strings"
)

// TCP service detection sends these, in this order, to a port that says
// nothing first: Redis answers PING (an inline command) with +PONG or an
// error, and HTTP servers answer it with a 400, after which GET / asks
// for the Server header. Redis closes a connection that starts like HTTP,
// so PING comes first.
const (
	TCPPing       = "PING\r\n"
	TCPHTTPGet    = "GET / HTTP/1.0\r\nUser-Agent: ports\r\nAccept: */*\r\n\r\n"
	maxBannerLine = 120
)

// ParseTCP recognises what a TCP service sent: a greeting it sends first
// (SSH, SMTP, FTP, POP3, IMAP, MySQL, VNC) or its reply to TCPPing or
// TCPHTTPGet (Redis, HTTP). It reports false for anything else.
func ParseTCP(b []byte) (Service, bool) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimRight(line, "\r")
	switch {
	case bytes.HasPrefix(b, []byte("SSH-")):
		return parseSSH(line), true
	case bytes.HasPrefix(b, []byte("HTTP/1.")):
		return ParseHTTP(b)
	case bytes.HasPrefix(b, []byte("220")) && (len(b) == 3 || b[3] == ' ' || b[3] == '-'):
		return parse220(line), true
	case bytes.HasPrefix(b, []byte("+OK")):
		return Service{Name: "pop3", Info: printable(line[3:], maxBannerLine)}, true
	case bytes.HasPrefix(b, []byte("* OK")), bytes.HasPrefix(b, []byte("* PREAUTH")):
		return Service{Name: "imap", Info: printable(line[2:], maxBannerLine)}, true
	case bytes.HasPrefix(b, []byte("+PONG")):
		return Service{Name: "redis"}, true
	case bytes.HasPrefix(b, []byte("-NOAUTH")), bytes.HasPrefix(b, []byte("-ERR")), bytes.HasPrefix(b, []byte("-DENIED")):
		return Service{Name: "redis", Info: printable(line[1:], 60)}, true
	case bytes.HasPrefix(b, []byte("RFB ")) && len(line) >= 11:
		return Service{Name: "vnc", Info: "protocol " + printable(line[4:11], 7)}, true
	}
	return parseMySQL(b)
}

// parseSSH reads an SSH identification string (RFC 4253 section 4.2):
// "SSH-protoversion-softwareversion SP comments".
func parseSSH(line []byte) Service {
	s := Service{Name: "ssh"}
	rest := string(line[4:])
	proto, sw, _ := strings.Cut(rest, "-")
	s.Info = "protocol " + printable([]byte(proto), 8)
	sw, comment, _ := strings.Cut(sw, " ")
	prod, ver, ok := strings.Cut(sw, "_")
	if !ok {
		prod, ver = splitProductVersion(sw)
	}
	s.Product, s.Version = printable([]byte(prod), 40), printable([]byte(ver), 40)
	if c := printable([]byte(comment), 40); c != "" {
		s.Version = strings.TrimSpace(s.Version + " " + c)
	}
	return s
}

// parse220 tells an FTP greeting (RFC 959) from an SMTP one (RFC 5321
// section 4.2), which both start with 220, by the words in them.
func parse220(line []byte) Service {
	text := printable(line[min(4, len(line)):], maxBannerLine)
	low := strings.ToLower(text)
	s := Service{Name: "smtp", Info: text}
	switch {
	case strings.Contains(low, "ftp"):
		s.Name = "ftp"
	case strings.Contains(low, "smtp"), strings.Contains(low, "mail"):
	default:
		s.Info = text + "; ftp or smtp"
	}
	for _, p := range []string{"Postfix", "Exim", "Sendmail", "vsFTPd", "ProFTPD", "Pure-FTPd", "FileZilla", "OpenSMTPD", "Microsoft"} {
		if i := strings.Index(strings.ToLower(text), strings.ToLower(p)); i >= 0 {
			s.Product = p
			rest := strings.TrimLeft(text[i+len(p):], " /")
			if rest != "" && rest[0] >= '0' && rest[0] <= '9' {
				s.Version, _, _ = strings.Cut(rest, " ")
				s.Version = strings.TrimRight(s.Version, ")")
			}
			break
		}
	}
	if s.Product != "" {
		s.Info = withoutProduct(s.Info, s.Product, s.Version)
	}
	return s
}

// withoutProduct removes from a greeting's text the product and version
// already reported, so that "220 (vsFTPd 3.0.3)" is not shown as
// "vsFTPd 3.0.3 ((vsFTPd 3.0.3))": "" when nothing else is left, the
// text unchanged when it says more.
func withoutProduct(info, product, version string) string {
	pv := product
	if version != "" {
		pv += " " + version
	}
	i := strings.Index(strings.ToLower(info), strings.ToLower(pv))
	if i < 0 {
		return info
	}
	rest := info[:i] + info[i+len(pv):]
	if strings.Trim(rest, " ()[]-,;:.") == "" {
		return ""
	}
	return info
}

// parseMySQL reads the initial handshake packet of the MySQL client/server
// protocol: a 3-byte length, sequence 0, protocol version 10 and a
// NUL-terminated server version; or an error packet (0xff) refusing the
// client's host.
func parseMySQL(b []byte) (Service, bool) {
	if len(b) < 5 || b[3] != 0 {
		return Service{}, false
	}
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if n < 1 || n > 1<<16 {
		return Service{}, false
	}
	body := b[4:min(len(b), 4+n)]
	switch body[0] {
	case 10:
		v, _, ok := bytes.Cut(body[1:], []byte{0})
		if !ok || len(v) == 0 {
			return Service{}, false
		}
		s := Service{Name: "mysql", Product: "MySQL", Version: printable(v, 40)}
		if strings.Contains(strings.ToLower(s.Version), "mariadb") {
			s.Product = "MariaDB"
		}
		return s, true
	case 0xff:
		if len(body) < 3 {
			return Service{}, false
		}
		return Service{Name: "mysql", Info: printable(body[3:], 80)}, true
	}
	return Service{}, false
}

// ParseHTTP reads an HTTP/1.x response's status line and Server header.
func ParseHTTP(b []byte) (Service, bool) {
	status, hdr, ok := parseHTTPHead(b)
	if !ok {
		return Service{}, false
	}
	s := Service{Name: "http", Info: "HTTP " + strconv.Itoa(status)}
	if v := hdr["server"]; v != "" {
		first, more, _ := strings.Cut(v, " ")
		prod, ver, ok := strings.Cut(first, "/")
		if ok {
			s.Product, s.Version = prod, ver
			// The other products of the header ("SimpleHTTP/0.6
			// Python/3.12.3", "Apache/2.4.58 (Ubuntu)") say what it
			// runs on: "Python 3.12.3", "Ubuntu".
			if extra := serverExtra(more); extra != "" {
				s.Info = extra + "; " + s.Info
			}
		} else {
			s.Product = v
		}
	}
	return s, true
}

// serverExtra turns the words of a Server header after the first
// product into info: "Python/3.12.3" -> "Python 3.12.3", "(Ubuntu)" ->
// "Ubuntu", joined with ", ".
func serverExtra(s string) string {
	var out []string
	for _, w := range strings.Fields(s) {
		w = strings.Trim(w, "()")
		if w == "" {
			continue
		}
		out = append(out, strings.Replace(w, "/", " ", 1))
		if len(out) == 4 {
			break
		}
	}
	return strings.Join(out, ", ")
}
