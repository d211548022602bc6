package cli

import (
	"github.com/portkit/ports/app"
)

// dumpMode is which of tcpdump's payload dumps decode prints after each
// packet's line.
type dumpMode uint8

const (
	dumpNone dumpMode = iota
	dumpASCII
	dumpHex
	dumpHexASCII
)

// dumpFlag is one of -A, -x and -X: a boolean flag that sets the mode;
// the last one given wins.
type dumpFlag struct {
	mode *dumpMode
	set  dumpMode
}

func (f dumpFlag) String() string {
	if f.mode != nil && *f.mode == f.set {
		return "true"
	}
	return "false"
}

func (f dumpFlag) Set(s string) error {
	switch s {
	case "true":
		*f.mode = f.set
	case "false":
		if *f.mode == f.set {
			*f.mode = dumpNone
		}
	default:
		return usagef("-A, -x and -X take no value, not %q", s)
	}
	return nil
}

func (f dumpFlag) Type() string { return "bool" }

// IsBoolFlag lets the flag stand alone (-A) as a boolean does.
func (f dumpFlag) IsBoolFlag() bool { return true }

// appendDump puts the packet's data, from the network header on as far
// as it was captured (an Ethernet trailer too), after the line b ends
// with, as tcpdump prints it with -A, -x or -X.
func (d *decoder) appendDump(b []byte, fr *frame) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	data := fr.Data
	if hl := int(d.p.Link.HeaderLen); d.jumped {
		// tcpdump lost the link header's length in the longjmp.
	} else if hl < len(fr.Data) {
		data = fr.Data[hl:]
	} else {
		data = nil
	}
	switch d.dump {
	case dumpASCII:
		b = app.AppendASCII(b, data)
	case dumpHex:
		b = app.AppendHexLines(b, data, "\n\t")
	case dumpHexASCII:
		b = app.AppendHexASCII(b, data, "\n\t")
	}
	return append(b, '\n')
}
