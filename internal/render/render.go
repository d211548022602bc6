// Package render writes command results as tables for people or as JSON
// and JSON Lines for programs. The JSON types live here, apart from the
// library structs, and carry a version in their names: a field is never
// renamed or removed within a version, only added.
package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Format is an output format.
type Format uint8

const (
	Table Format = iota // aligned columns for people
	JSON                // one JSON document: an array of results
	JSONL               // one JSON object per line, written as results arrive
)

func (f Format) String() string {
	switch f {
	case JSON:
		return "json"
	case JSONL:
		return "jsonl"
	}
	return "table"
}

// Set implements pflag.Value, so a Format can back a --format flag.
func (f *Format) Set(s string) error {
	switch strings.ToLower(s) {
	case "table":
		*f = Table
	case "json":
		*f = JSON
	case "jsonl", "ndjson":
		*f = JSONL
	default:
		return fmt.Errorf("%q is not a format; want table, json or jsonl", s)
	}
	return nil
}

// Type implements pflag.Value.
func (f *Format) Type() string { return "table|json|jsonl" }

// Stream writes a sequence of results of type T in one format: JSON
// gathers them into an array, JSONL writes each at once, and Table hands
// each to a table function. Call Close after the last one.
type Stream[T any] struct {
	out     *bufio.Writer
	flushed time.Time
	w       io.Writer
	format  Format
	table   func(io.Writer, T) error
	tw      *Aligner
	enc     *json.Encoder
	n       int
}

// NewStream returns a Stream writing to w. table writes one result as
// tab-separated rows; it is used only for the Table format.
//
// Output is buffered, and flushed by Close, when the buffer fills, and
// at a Write (one in 64) that comes 100 ms or more after the last flush: a long
// listing costs few write calls, and a slow JSONL stream still shows
// each result soon after it arrives. A table is written at Close, when
// its columns can be aligned over every row.
func NewStream[T any](w io.Writer, f Format, table func(io.Writer, T) error) *Stream[T] {
	s := &Stream[T]{out: bufio.NewWriterSize(w, 64<<10), format: f, table: table, flushed: time.Now()}
	w = s.out
	s.w = w
	switch f {
	case Table:
		s.tw = NewAligner(w)
	default:
		s.enc = json.NewEncoder(w)
		s.enc.SetEscapeHTML(false)
	}
	return s
}

// Write writes one result.
func (s *Stream[T]) Write(v T) error {
	if err := s.write(v); err != nil {
		return err
	}
	s.n++
	if s.n%64 != 0 {
		return nil // look at the clock now and then: it is not free
	}
	if now := time.Now(); now.Sub(s.flushed) >= 100*time.Millisecond {
		// A table stays in its Aligner until Close: its columns are
		// aligned over all rows.
		s.flushed = now
		return s.out.Flush()
	}
	return nil
}

func (s *Stream[T]) write(v T) error {
	switch s.format {
	case Table:
		return s.table(s.tw, v)
	case JSON:
		sep := ",\n  "
		if s.n == 0 {
			sep = "[\n  "
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("  ", "  ")
		if err := enc.Encode(v); err != nil {
			return err
		}
		_, err := io.WriteString(s.w, sep+strings.TrimSuffix(buf.String(), "\n"))
		return err
	}
	return s.enc.Encode(v)
}

// Header writes a header row for the Table format; other formats have
// none.
func (s *Stream[T]) Header(row string) {
	if s.format == Table {
		io.WriteString(s.tw, row+"\n")
	}
}

// Len returns the number of results written.
func (s *Stream[T]) Len() int { return s.n }

// Flush writes out what JSON and JSON Lines results are buffered (a
// table stays in its Aligner until Close), for a live source whose
// results come slowly.
func (s *Stream[T]) Flush() error {
	if s.tw != nil {
		return nil
	}
	return s.out.Flush()
}

// Close ends the output: it flushes the table or closes the JSON array,
// and writes out what is buffered.
func (s *Stream[T]) Close() error {
	if err := s.close(); err != nil {
		return err
	}
	return s.out.Flush()
}

func (s *Stream[T]) close() error {
	switch s.format {
	case Table:
		return s.tw.Flush()
	case JSON:
		if s.n == 0 {
			_, err := io.WriteString(s.w, "[]\n")
			return err
		}
		_, err := io.WriteString(s.w, "\n]\n")
		return err
	}
	return nil
}
