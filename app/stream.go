package app

import (
	"bytes"
	"net/netip"
)

// Kind is an application protocol recognised by its content.
type Kind uint8

const (
	KindNone Kind = iota
	KindTLS
	KindHTTP
	KindSSH
	KindQUIC
	KindSIP
	// KindFTP, KindSMTP, KindPOP3 and KindIMAP: the text protocols of
	// mail and file transfer, a command or reply per line.
	KindFTP
	KindSMTP
	KindPOP3
	KindIMAP
	// KindHTTP2: HTTP/2's connection preface, in clear (h2c, or prior
	// knowledge).
	KindHTTP2
	// KindFTPData: an FTP data connection, known by the address its
	// control connection announced (PORT, EPRT, PASV, EPSV), not by
	// content: [StreamHead.Decode] never reports it.
	KindFTPData
)

// IsText reports whether k is a line-by-line text protocol (FTP, SMTP,
// POP3, IMAP), whose later messages [StreamHead.DecodeAs] reads.
func (k Kind) IsText() bool { return k >= KindFTP && k <= KindIMAP }

func (k Kind) String() string {
	switch k {
	case KindTLS:
		return "tls"
	case KindHTTP:
		return "http"
	case KindSSH:
		return "ssh"
	case KindQUIC:
		return "quic"
	case KindSIP:
		return "sip"
	case KindFTP:
		return "ftp"
	case KindSMTP:
		return "smtp"
	case KindPOP3:
		return "pop3"
	case KindIMAP:
		return "imap"
	case KindHTTP2:
		return "http2"
	case KindFTPData:
		return "ftp-data"
	}
	return ""
}

// StreamHead is what the start of one direction of a TCP stream says,
// decoded in place: its slices alias the data given to Decode.
type StreamHead struct {
	Kind Kind
	TLS  TLSHello
	// HTTP: the request line's method and target, or the status line's
	// code and reason; Version is "HTTP/1.1"; Host, UserAgent, Server,
	// ContentType and ContentLength the header fields of those names.
	Method, Target, Version, Reason []byte
	Status                          int
	Host, UserAgent, Server         []byte
	ContentType, ContentLength      []byte
	// SSH: the identification line without its CR LF.
	Banner []byte
	// SIP over TCP: its request or status line and header fields.
	SIP SIP
	// FTP, SMTP, POP3, IMAP: Line is the message's first line, without
	// its line end. A request has its Command and argument (Arg); IMAP's
	// its Tag too. A reply (Response) has FTP's or SMTP's three-digit
	// Code, POP3's +OK or -ERR or IMAP's OK, NO, BAD, PREAUTH or BYE
	// (Reply), IMAP's Tag ("*" untagged) and the text after (Arg).
	Line, Tag, Command, Arg, Reply []byte
	Code                           int
	Response                       bool
	// Guessed: the line fits more than one of these protocols alike (a
	// 220 greeting naming neither FTP nor SMTP, FTP's and POP3's USER),
	// and Kind is the first of them; [StreamHead.PreferPort] settles it
	// by the ports, the connection's other direction may too.
	Guessed bool
	// DataAddr is the data connection an FTP PORT or EPRT command or a
	// 227 or 229 reply announces: the end that listens. A 229 reply
	// gives the port only (the address is the zero Addr): the server's
	// address on the control connection is meant.
	DataAddr netip.AddrPort
	fits     uint8
	// textLen is the length of the text lines read, line ends included.
	textLen int
	// headerLen is the HTTP header's length, its blank line included.
	headerLen int
	chunked   bool
}

// Chunked reports whether the HTTP message's body is chunked: its
// length is told chunk by chunk ([ChunkLine]) after the header
// (HeaderLen bytes).
func (s *StreamHead) Chunked() bool { return s.Kind == KindHTTP && s.chunked }

// HeaderLen is the HTTP header's length, its blank line included.
func (s *StreamHead) HeaderLen() int { return s.headerLen }

// ChunkLine reads the size line of a chunk of a chunked body (RFC 9112
// §7.1) at the start of data and returns how many bytes the chunk takes
// (line, data and CR LF; for the last chunk, its line and the blank
// line that ends an empty trailer), so that it can be skipped before it
// has all come. ErrShort: the line has not; ErrNotThis: it is not one.
func ChunkLine(data []byte) (n int, last bool, err error) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if len(data) > 1024 {
			return 0, false, ErrNotThis
		}
		return 0, false, ErrShort
	}
	size, digits := 0, 0
	for _, c := range data[:i] {
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'a' && c <= 'f':
			v = int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			v = int(c-'A') + 10
		default:
			v = -1
		}
		if v < 0 {
			break
		}
		if size > 1<<40 {
			return 0, false, ErrNotThis
		}
		size, digits = size*16+v, digits+1
	}
	if digits == 0 {
		return 0, false, ErrNotThis
	}
	if size == 0 {
		return i + 1 + 2, true, nil // no trailer fields
	}
	return i + 1 + size + 2, false, nil
}

// MessageLen is the length of the HTTP message recognised, header and
// body, where the header tells it (Content-Length, or no body), so that
// the next message of the stream can be found; 0 where it does not
// (chunked, or a response delimited by the connection's end). For the
// text protocols, the complete lines read; for HTTP/2, the preface.
func (s *StreamHead) MessageLen() int {
	switch {
	case s.Kind == KindSIP:
		return s.SIP.MessageLen()
	case s.Kind.IsText():
		return s.textLen
	case s.Kind == KindHTTP2:
		return len(h2Preface)
	}
	if s.Kind != KindHTTP || s.chunked {
		return 0
	}
	if s.ContentLength != nil {
		n, ok := contentLength(s.ContentLength, 1<<40)
		if !ok {
			return 0
		}
		return s.headerLen + n
	}
	if s.Method != nil || s.Status/100 == 1 || s.Status == 204 || s.Status == 304 {
		return s.headerLen
	}
	return 0
}

// contentLength reads a Content-Length value of digits alone; ok is
// false for anything else or past max (checked before each digit, so a
// value may end up to ten times max).
func contentLength(b []byte, max int) (n int, ok bool) {
	for _, c := range b {
		if !isDigit(c) || n > max {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// maxHead bounds what Decode looks for: an HTTP header or a banner
// longer than this is not one it reports.
const maxHead = 16 << 10

// Decode recognises the start of a TCP stream by its content, whatever
// the ports: a TLS ClientHello or ServerHello, an HTTP/1.x request or
// status line with its header, an SSH identification line, HTTP/2's
// connection preface, a line of FTP, SMTP, POP3 or IMAP (a greeting, a
// command, a reply). It returns ErrShort while more bytes could
// complete one, ErrNotThis when they cannot be any.
func (s *StreamHead) Decode(data []byte) error { return s.DecodeAs(data, KindNone) }

// DecodeAs is [StreamHead.Decode] for a direction known to carry known
// (found on it or its connection's other direction earlier): where
// known is a text protocol ([Kind.IsText]), the next lines are read as
// its, whatever they say (a reply's continuation, a mail's text). Any
// other known decodes by content, as Decode.
func (s *StreamHead) DecodeAs(data []byte, known Kind) error {
	if known.IsText() {
		return s.decodeText(data, known)
	}
	*s = StreamHead{}
	if len(data) == 0 {
		return ErrShort
	}
	if data[0] == 22 {
		err := s.TLS.Decode(data)
		if err == nil {
			s.Kind = KindTLS
		}
		return err
	}
	if bytes.HasPrefix(data, []byte("SSH-")) || len(data) < 4 && bytes.HasPrefix([]byte("SSH-"), data) {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(data) > 255 {
				return ErrNotThis
			}
			return ErrShort
		}
		s.Kind, s.Banner = KindSSH, bytes.TrimRight(data[:i], "\r")
		return nil
	}
	if n := min(len(data), len(h2Preface)); string(data[:n]) == h2Preface[:n] {
		if n < len(h2Preface) {
			return ErrShort
		}
		s.Kind = KindHTTP2
		return nil
	}
	switch err := s.SIP.Decode(data, false); err {
	case nil:
		s.Kind = KindSIP
		return nil
	case ErrShort:
		// The start of a SIP message not all here yet: wait for the rest,
		// unless HTTP or a text protocol reads it already.
		*s = StreamHead{}
		if err := s.decodeHTTP(data); err != ErrNotThis {
			return err
		}
		*s = StreamHead{}
		if err := s.decodeText(data, KindNone); err != ErrNotThis {
			return err
		}
		*s = StreamHead{}
		return ErrShort
	}
	*s = StreamHead{}
	if err := s.decodeHTTP(data); err != ErrNotThis {
		return err
	}
	return s.decodeText(data, KindNone)
}

func (s *StreamHead) decodeHTTP(data []byte) error {
	line := data
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		line = data[:i]
	}
	f1, rest, _ := bytes.Cut(bytes.TrimRight(line, "\r"), []byte(" "))
	f2, f3, _ := bytes.Cut(rest, []byte(" "))
	isVersion := func(v []byte) bool {
		return len(v) == 8 && bytes.HasPrefix(v, []byte("HTTP/1.")) && (v[7] == '0' || v[7] == '1')
	}
	switch {
	case isVersion(f1):
		if len(f2) != 3 || !isDigit(f2[0]) || !isDigit(f2[1]) || !isDigit(f2[2]) {
			return s.shortIfPrefix(data, line)
		}
		s.Version, s.Reason = f1, f3
		s.Status = int(f2[0]-'0')*100 + int(f2[1]-'0')*10 + int(f2[2]-'0')
	case isToken(f1) && len(f2) > 0 && isVersion(f3):
		s.Method, s.Target, s.Version = f1, f2, f3
	default:
		return s.shortIfPrefix(data, line)
	}
	end := bytes.Index(data, []byte("\r\n\r\n"))
	s.headerLen = end + 4
	if end < 0 {
		if end = bytes.Index(data, []byte("\n\n")); end < 0 {
			if len(data) >= maxHead {
				return ErrNotThis
			}
			return ErrShort
		}
		s.headerLen = end + 2
	}
	for hdr := data[min(len(line), end):end]; len(hdr) > 0; {
		var l []byte
		l, hdr, _ = bytes.Cut(bytes.TrimLeft(hdr, "\r\n"), []byte("\n"))
		name, val, ok := bytes.Cut(bytes.TrimRight(l, "\r"), []byte(":"))
		if !ok {
			continue
		}
		val = bytes.TrimSpace(val)
		switch {
		case asciiEqualFold(name, "HOST"):
			s.Host = val
		case asciiEqualFold(name, "USER-AGENT"):
			s.UserAgent = val
		case asciiEqualFold(name, "SERVER"):
			s.Server = val
		case asciiEqualFold(name, "CONTENT-TYPE"):
			s.ContentType = val
		case asciiEqualFold(name, "CONTENT-LENGTH"):
			s.ContentLength = val
		case asciiEqualFold(name, "TRANSFER-ENCODING"):
			s.chunked = true
		}
	}
	s.Kind = KindHTTP
	return nil
}

// shortIfPrefix: a first line not yet ended may still become a request
// or status line.
func (s *StreamHead) shortIfPrefix(data, line []byte) error {
	if len(line) == len(data) && len(data) < 64 && isToken(firstField(data)) {
		return ErrShort
	}
	return ErrNotThis
}

// isToken: an HTTP method's characters (RFC 9110 tchar, upper case
// letters, as methods are written).
func isToken(b []byte) bool {
	if len(b) == 0 || len(b) > 32 {
		return false
	}
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// AppendSummary appends the one-line summary of what was recognised:
// "TLS ClientHello SNI a.test ALPN h2", "HTTP GET /index.html Host:
// a.test", "HTTP 200 OK", "SSH-2.0-OpenSSH_9.2", "HTTP/2 connection
// preface"; for the text protocols their first line as tcpdump prints
// it on FTP's and SMTP's ports: "FTP: 227 Entering Passive Mode
// (127,0,0,1,4,1)", "SMTP: EHLO a.test", "POP3: +OK", "IMAP: a1 LOGIN
// u p".
func (s *StreamHead) AppendSummary(b []byte) []byte {
	switch s.Kind {
	case KindTLS:
		return s.TLS.AppendSummary(b)
	case KindSSH:
		return appendPrintable(b, s.Banner)
	case KindSIP:
		return s.SIP.AppendSummary(b)
	case KindFTP, KindSMTP, KindPOP3, KindIMAP:
		return s.appendTextSummary(b)
	case KindHTTP2:
		return append(b, "HTTP/2 connection preface"...)
	case KindHTTP:
		b = append(b, "HTTP "...)
		if s.Method != nil {
			b = appendPrintable(b, s.Method)
			b = appendPrintable(append(b, ' '), s.Target)
			if s.Host != nil {
				b = appendPrintable(append(b, " Host: "...), s.Host)
			}
			return b
		}
		b = strconv3(b, s.Status)
		if len(s.Reason) > 0 {
			b = appendPrintable(append(b, ' '), s.Reason)
		}
	}
	return b
}

func strconv3(b []byte, v int) []byte {
	return append(b, byte('0'+v/100), byte('0'+v/10%10), byte('0'+v%10))
}

func appendPrintable(b, s []byte) []byte {
	for _, c := range s {
		b = appendChar(b, c)
	}
	return b
}

func firstField(b []byte) []byte {
	f, _, _ := bytes.Cut(b, []byte(" "))
	return bytes.TrimRight(f, "\r")
}
