// Package cfgfile reads the files ports takes as configuration (rule
// files, users files, knockd.conf and the files it names, access.conf,
// key files) with the checks a daemon needs before it trusts a path: the
// file must be a regular file, not a FIFO (whose open or read would
// block forever), a device (/dev/zero never ends) or a directory, and it
// must fit a size limit, which is enforced while reading too, so a file
// that grows after the check is still cut off.
package cfgfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// DefaultLimit is the size limit of Read when the caller gives none:
// far above any hand-written configuration, far below what hurts.
const DefaultLimit = 4 << 20

var (
	// ErrNotRegular is the cause of an *Error for a path that is not a
	// regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge is the cause of an *Error for a file over the limit.
	ErrTooLarge = errors.New("file too large")
)

// Error is a refusal of Read: the path and what was wrong with it.
type Error struct {
	Path  string
	Err   error       // ErrNotRegular, ErrTooLarge or the system's error
	Mode  fs.FileMode // for ErrNotRegular: what the path is
	Limit int64       // for ErrTooLarge
}

func (e *Error) Error() string {
	switch {
	case errors.Is(e.Err, ErrNotRegular):
		return fmt.Sprintf("%s: not a regular file (%s)", e.Path, kind(e.Mode))
	case errors.Is(e.Err, ErrTooLarge):
		return fmt.Sprintf("%s: larger than the limit of %s", e.Path, size(e.Limit))
	}
	var pe *fs.PathError
	if errors.As(e.Err, &pe) {
		return fmt.Sprintf("%s: %v", e.Path, pe.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Read returns the contents of the regular file at path, refusing any
// other kind of file and any file over limit bytes (limit <= 0 means
// DefaultLimit). Opening never blocks, even on a FIFO.
func Read(path string, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	f, err := openNonblock(path)
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, &Error{Path: path, Err: ErrNotRegular, Mode: st.Mode()}
	}
	if st.Size() > limit {
		return nil, &Error{Path: path, Err: ErrTooLarge, Limit: limit}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &Error{Path: path, Err: ErrTooLarge, Limit: limit}
	}
	return data, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.String()
}

func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
