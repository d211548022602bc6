package pcapfile

import (
	"errors"
	"strconv"
)

// FormatError reports malformed or unsupported input: what is wrong and
// the byte offset in the input where it was found. Errors from the
// underlying io.Reader other than io.EOF are returned unchanged.
//
// Err, when set, is a sentinel callers can test with errors.Is:
//   - io.ErrUnexpectedEOF: the input ends inside the file header, a record
//     or a block (a capture cut short, e.g. still being written);
//   - ErrUnknownFormat: the input starts with neither a pcap nor a pcapng
//     magic number;
//   - ErrUnsupportedVersion: a pcap or pcapng version this package does
//     not read.
//
// Any other FormatError (Err nil) means the input is damaged: a length
// that overruns its block, a capture length beyond the limit, a packet
// naming an interface that was never described, and so on.
type FormatError struct {
	Offset int64  // byte offset in the input of the header, record, block or option at fault
	Msg    string // what is wrong, lowercase
	Err    error  // an underlying sentinel (see above), or nil
}

func (e *FormatError) Error() string {
	s := "pcapfile: offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns e.Err.
func (e *FormatError) Unwrap() error { return e.Err }

var (
	// ErrUnknownFormat is wrapped by the error NewReader returns for input
	// that is neither pcap nor pcapng (a gzip-compressed capture, say).
	ErrUnknownFormat = errors.New("not a pcap or pcapng capture")

	// ErrUnsupportedVersion is wrapped by errors for a pcap file whose
	// major version is not 2, or a pcapng section whose major version is
	// not 1.
	ErrUnsupportedVersion = errors.New("unsupported format version")

	// ErrOutOfRange is wrapped by the errors Writer.WritePacket returns
	// for a timestamp or length the pcap format cannot hold. Such errors
	// reject only that packet; the Writer stays usable.
	ErrOutOfRange = errors.New("value out of range for the pcap format")
)
