package app

// AppendHTTP appends what tcpdump -nn (4.99) prints for a TCP payload on
// an HTTP port: "HTTP: GET / HTTP/1.1" when the payload starts with a
// request line (a method tcpdump knows) or a status line (a 3-digit code
// as second token), "HTTP" for anything else (a body's continuation),
// and " [|http]" after "HTTP" where the capture ends before the line
// tcpdump would print does. data is the payload captured (up to the IP
// length), length its length on the wire.
func AppendHTTP(b, data []byte, length int) []byte {
	return appendTextProto(b, "HTTP", " [|http]", data, length, httpMethods[:])
}

// httpMethods are the request names tcpdump's print-http.c knows (PATCH
// is not among them).
var httpMethods = [...]string{
	"GET", "PUT", "COPY", "HEAD", "LOCK", "MOVE", "POLL", "POST", "BCOPY", "BMOVE", "MKCOL", "TRACE", "LABEL",
	"MERGE", "DELETE", "SEARCH", "UNLOCK", "REPORT", "UPDATE", "NOTIFY", "BDELETE", "CONNECT", "OPTIONS",
	"CHECKIN", "PROPFIND", "CHECKOUT", "CCM_POST", "SUBSCRIBE", "PROPPATCH", "BPROPFIND", "BPROPPATCH",
	"UNCHECKOUT", "MKACTIVITY", "MKWORKSPACE", "UNSUBSCRIBE", "RPC_CONNECT", "VERSION-CONTROL", "BASELINE-CONTROL",
}

// appendTextProto follows tcpdump's txtproto_print without -v, for a
// protocol whose response code is the second token (HTTP, RTSP, SIP),
// or, with cmds nil, one whose every payload is a request or a reply
// (FTP, SMTP), printed whatever its first token.
func appendTextProto(b []byte, proto, trunc string, data []byte, length int, cmds []string) []byte {
	show := cmds == nil
	if tok, idx := fetchToken(data, 0, length); !show && idx != 0 {
		for _, c := range cmds {
			if asciiEqualFold(tok, c) {
				show = true
				break
			}
		}
		tok, idx = fetchToken(data, idx, length)
		if idx != 0 && len(tok) == 3 && isDigit(tok[0]) && isDigit(tok[1]) && isDigit(tok[2]) {
			show = true
		}
	}
	b = append(b, proto...)
	if !show {
		return b
	}
	// print_txt_line: the first line, if it is all printable; reading
	// past the capture is tcpdump's truncation.
	end, ok := -1, true
	for i := 0; i < length; i++ {
		if i >= len(data) {
			return append(b, trunc...)
		}
		c := data[i]
		if c == '\n' {
			end = i
			break
		}
		if c == '\r' {
			if i+1 >= length {
				ok = false
				break
			}
			if i+1 >= len(data) {
				return append(b, trunc...)
			}
			if data[i+1] == '\n' {
				end = i
				break
			}
			ok = false
			break
		}
		if !(c >= 0x20 && c < 0x7f) && c != '\t' {
			ok = false
			break
		}
	}
	if !ok {
		return b
	}
	b = append(b, ": "...)
	if end < 0 {
		// All printable, no line end: tcpdump prints it and takes the
		// line for cut.
		return append(append(b, data[:length]...), trunc...)
	}
	return append(b, data[:end]...)
}

// fetchToken is tcpdump's fetch_token: the printable ASCII token at idx
// (at most 128 bytes) and the index after it and the blanks that follow
// (0 if there is no token).
func fetchToken(data []byte, idx, length int) ([]byte, int) {
	start := idx
	for ; idx < length; idx++ {
		if idx >= len(data) {
			return nil, 0
		}
		c := data[idx]
		if c >= 0x80 {
			return nil, 0
		}
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			break
		}
		if c < 0x20 || c == 0x7f {
			return nil, 0
		}
		if idx-start+2 > 129 {
			return nil, 0
		}
	}
	if idx == start {
		return nil, 0
	}
	tok := data[start:idx]
	for ; idx < length && idx < len(data); idx++ {
		c := data[idx]
		if c == '\r' || c == '\n' || c < 0x20 || c >= 0x7f || c != ' ' && c != '\t' {
			break
		}
	}
	return tok, idx
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i], s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
