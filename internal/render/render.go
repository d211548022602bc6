// Package render writes command results as tables for people or as JSON
// and JSON Lines for programs. The JSON types live here, apart from the
// library structs, and carry a version in their names: a field is never
// renamed or removed within a version, only added.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
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
	w      io.Writer
	format Format
	table  func(*tabwriter.Writer, T) error
	tw     *tabwriter.Writer
	enc    *json.Encoder
	n      int
}

// NewStream returns a Stream writing to w. table writes one result as
// tab-separated rows; it is used only for the Table format.
func NewStream[T any](w io.Writer, f Format, table func(*tabwriter.Writer, T) error) *Stream[T] {
	s := &Stream[T]{w: w, format: f, table: table}
	switch f {
	case Table:
		s.tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	default:
		s.enc = json.NewEncoder(w)
		s.enc.SetEscapeHTML(false)
	}
	return s
}

// Write writes one result.
func (s *Stream[T]) Write(v T) error {
	defer func() { s.n++ }()
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

// Close ends the output: it flushes the table or closes the JSON array.
func (s *Stream[T]) Close() error {
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
