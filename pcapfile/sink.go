package pcapfile

import "io"

// sink is the buffered output both writers share: records are appended
// to buf and written in large pieces; the first write error sticks.
type sink struct {
	w   io.Writer
	buf []byte
	err error // sticky write error
}

// Flush writes the buffered data to the io.Writer.
func (w *sink) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	err := w.write(w.buf)
	w.buf = w.buf[:0]
	return err
}

func (w *sink) write(b []byte) error {
	n, err := w.w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
	}
	return err
}
