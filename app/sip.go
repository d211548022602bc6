package app

import "bytes"

// SIP is a SIP message's start (RFC 3261 §7), decoded in place: its
// slices alias the data given to Decode. A request has Method and URI,
// a response Status and Reason.
type SIP struct {
	Method, URI []byte
	Status      int
	Reason      []byte
	// The header fields of these names, or of their compact forms
	// (i, f, t): Call-ID, From, To, CSeq, Content-Length.
	CallID, From, To, CSeq, ContentLength []byte
	headerLen                             int
}

// Decode reads a SIP request or status line and its header from the
// start of data. A datagram is a whole message: its header may end
// with the data; on a stream, ErrShort says the header has not all
// come. ErrNotThis: it is not SIP.
func (s *SIP) Decode(data []byte, datagram bool) error {
	*s = SIP{}
	if len(data) == 0 {
		if datagram {
			return ErrNotThis
		}
		return ErrShort
	}
	if c := data[0]; c < 'A' || c > 'Z' {
		return ErrNotThis // methods are upper case, as is "SIP/2.0"
	}
	line := data
	i := bytes.IndexByte(data, '\n')
	if i >= 0 {
		line = data[:i]
	}
	line = bytes.TrimRight(line, "\r")
	f1, rest, _ := bytes.Cut(line, []byte(" "))
	f2, f3, _ := bytes.Cut(rest, []byte(" "))
	switch {
	case string(f1) == "SIP/2.0":
		if len(f2) != 3 || !isDigit(f2[0]) || !isDigit(f2[1]) || !isDigit(f2[2]) {
			return ErrNotThis
		}
		s.Status = int(f2[0]-'0')*100 + int(f2[1]-'0')*10 + int(f2[2]-'0')
		s.Reason = f3
	case isToken(f1) && string(f3) == "SIP/2.0" && isSIPURI(f2):
		s.Method, s.URI = f1, f2
	default:
		if i < 0 && !datagram && len(data) < 64 && (isToken(firstField(data)) || bytes.HasPrefix([]byte("SIP/2.0 "), data) || bytes.HasPrefix(data, []byte("SIP/2.0 "))) {
			return ErrShort
		}
		return ErrNotThis
	}
	end := bytes.Index(data, []byte("\r\n\r\n"))
	s.headerLen = end + 4
	if end < 0 {
		if end = bytes.Index(data, []byte("\n\n")); end >= 0 {
			s.headerLen = end + 2
		} else if datagram {
			end, s.headerLen = len(data), len(data)
		} else {
			if len(data) >= maxHead {
				return ErrNotThis
			}
			return ErrShort
		}
	}
	for hdr := data[min(len(line), end):end]; len(hdr) > 0; {
		var l []byte
		l, hdr, _ = bytes.Cut(bytes.TrimLeft(hdr, "\r\n"), []byte("\n"))
		name, val, ok := bytes.Cut(bytes.TrimRight(l, "\r"), []byte(":"))
		if !ok {
			continue
		}
		name, val = bytes.TrimSpace(name), bytes.TrimSpace(val)
		switch {
		case asciiEqualFold(name, "CALL-ID"), asciiEqualFold(name, "I"):
			s.CallID = val
		case asciiEqualFold(name, "FROM"), asciiEqualFold(name, "F"):
			s.From = val
		case asciiEqualFold(name, "TO"), asciiEqualFold(name, "T"):
			s.To = val
		case asciiEqualFold(name, "CSEQ"):
			s.CSeq = val
		case asciiEqualFold(name, "CONTENT-LENGTH"), asciiEqualFold(name, "L"):
			s.ContentLength = val
		}
	}
	return nil
}

// isSIPURI: a Request-URI of a scheme SIP carries (sip, sips, tel).
func isSIPURI(u []byte) bool {
	for _, p := range [...]string{"SIP:", "SIPS:", "TEL:"} {
		if len(u) > len(p) && asciiEqualFold(u[:len(p)], p) {
			return true
		}
	}
	return false
}

// MessageLen is the message's length, header and body (by
// Content-Length, none meaning no body), so that the next message of a
// stream can be found; 0 where Content-Length is not a number.
func (s *SIP) MessageLen() int {
	n, ok := contentLength(s.ContentLength, 1<<30)
	if !ok {
		return 0
	}
	return s.headerLen + n
}

// AppendSummary appends "SIP INVITE sip:bob@b.test" or "SIP 200 OK",
// then the Call-ID.
func (s *SIP) AppendSummary(b []byte) []byte {
	b = append(b, "SIP "...)
	if s.Method != nil {
		b = appendPrintable(b, s.Method)
		b = appendPrintable(append(b, ' '), s.URI)
	} else {
		b = strconv3(b, s.Status)
		if len(s.Reason) > 0 {
			b = appendPrintable(append(b, ' '), s.Reason)
		}
	}
	if len(s.CallID) > 0 {
		b = appendPrintable(append(b, " Call-ID: "...), s.CallID)
	}
	return b
}

// AppendSIP appends what tcpdump -nn (4.99) prints for a datagram to or
// from port 5060: "SIP: INVITE sip:bob@b.test SIP/2.0" for a request of
// a method tcpdump knows or a status line, "SIP" for anything else, "
// [|sip]" where the line is cut (its txtproto printer, as for HTTP).
func AppendSIP(b, data []byte, length int) []byte {
	return appendTextProto(b, "SIP", " [|sip]", data, length, sipMethods[:])
}

// sipMethods are print-sip.c's.
var sipMethods = [...]string{"ACK", "BYE", "CANCEL", "DO", "INFO", "INVITE", "MESSAGE", "NOTIFY", "OPTIONS", "PRACK", "QAUTH", "REFER", "REGISTER", "SPRACK", "SUBSCRIBE", "UPDATE", "PUBLISH"}
