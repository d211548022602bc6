package ports

import (
	"errors"
	"strconv"
)

// ParseError reports a malformed protocol, port, port set or endpoint.
type ParseError struct {
	What  string // what was being parsed: "port", "port set", "endpoint"...
	Input string // the whole input
	Pos   int    // byte offset of the problem in Input; -1 when it has no one place
	Msg   string // what is wrong
	Err   error  // an underlying error callers can test with errors.Is, or nil
}

// Unwrap returns e.Err.
func (e *ParseError) Unwrap() error { return e.Err }

func (e *ParseError) Error() string {
	s := "invalid " + e.What + " " + strconv.Quote(e.Input)
	if e.Pos >= 0 && e.Pos <= len(e.Input) {
		s += " at position " + strconv.Itoa(e.Pos+1)
	}
	return s + ": " + e.Msg
}

// ErrUnknownService is wrapped by errors for a service name that the
// resolver does not know.
var ErrUnknownService = errors.New("unknown service name")
