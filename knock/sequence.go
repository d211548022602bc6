package knock

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/cfgfile"
)

// Knock is one step of a sequence: a port and its protocol, ProtoTCP or
// ProtoUDP.
type Knock struct {
	Port  ports.Port
	Proto ports.Proto
}

// String formats k as "7000:tcp".
func (k Knock) String() string { return strconv.Itoa(int(k.Port)) + ":" + k.Proto.String() }

// Sequence is an ordered list of knocks.
type Sequence []Knock

// String formats s as knockd's Sequence directive: "7000:tcp,8000:udp".
func (s Sequence) String() string {
	var b strings.Builder
	for i, k := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k.String())
	}
	return b.String()
}

// MaxSequence is the longest sequence accepted, as knockd's SEQ_MAX.
const MaxSequence = 32

// SyntaxError is a sequence, configuration or command line that could
// not be parsed.
type SyntaxError struct {
	File  string // the file, for configurations; may be empty
	Line  int    // the line number, from 1, for configurations; else 0
	Input string // the text that was wrong
	Msg   string
}

func (e *SyntaxError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	} else if e.File != "" {
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	if e.Input != "" {
		fmt.Fprintf(&b, ": %q", e.Input)
	}
	return b.String()
}

// FileProblems returns e as a configuration file's problem, when it is
// one (it names a file); nil for a sequence or command line.
func (e *SyntaxError) FileProblems() []cfgfile.Problem {
	if e.File == "" {
		return nil
	}
	msg := e.Msg
	if e.Input != "" {
		msg += fmt.Sprintf(": %q", e.Input)
	}
	return []cfgfile.Problem{{File: e.File, Line: e.Line, Msg: msg}}
}

// ParseKnock parses one knock, "PORT" or "PORT:tcp" or "PORT:udp" (the
// protocol in any case); def is the protocol when none is given. Spaces
// around the parts are allowed.
func ParseKnock(s string, def ports.Proto) (Knock, error) {
	port, proto, hasProto := strings.Cut(s, ":")
	port = strings.TrimSpace(port)
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return Knock{}, &SyntaxError{Input: s, Msg: "knock port must be a number from 1 to 65535"}
	}
	k := Knock{Port: ports.Port(n), Proto: def}
	if hasProto {
		switch strings.ToLower(strings.TrimSpace(proto)) {
		case "tcp":
			k.Proto = ports.ProtoTCP
		case "udp":
			k.Proto = ports.ProtoUDP
		default:
			return Knock{}, &SyntaxError{Input: s, Msg: "knock protocol must be tcp or udp"}
		}
	}
	return k, nil
}

// ParseSequence parses a comma-separated sequence, "7000,8000:udp,9000",
// TCP by default, of 1 to MaxSequence knocks.
func ParseSequence(s string) (Sequence, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &SyntaxError{Input: s, Msg: "empty knock sequence"}
	}
	var seq Sequence
	for item := range strings.SplitSeq(s, ",") {
		if len(seq) == MaxSequence {
			return nil, &SyntaxError{Input: s, Msg: fmt.Sprintf("too many knocks in the sequence (at most %d)", MaxSequence)}
		}
		k, err := ParseKnock(item, ports.ProtoTCP)
		if err != nil {
			return nil, err
		}
		seq = append(seq, k)
	}
	return seq, nil
}
