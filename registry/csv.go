package registry

import (
	"fmt"
	"strings"
)

// numFields is the number of columns of the IANA CSV.
const numFields = 12

// The header the IANA CSV starts with; Parse checks it so that a changed
// layout is an error, not silently shifted columns.
var header = [numFields]string{
	"Service Name", "Port Number", "Transport Protocol", "Description",
	"Assignee", "Contact", "Registration Date", "Modification Date",
	"Reference", "Service Code", "Unauthorized Use Reported", "Assignment Notes",
}

// csvReader splits RFC 4180 CSV held in a string. Unquoted fields and
// quoted fields without doubled quotes are substrings of the input, so
// reading the registry allocates almost nothing but the records.
//
// encoding/csv would allocate a string per field (about 170,000 for the
// registry); the registry is parsed on the first lookup of every `ports`
// run, so this reader is part of the start-up time (see bench/info.sh).
type csvReader struct {
	data string
	pos  int
	line int // 1-based line of pos
}

// CSVError reports malformed CSV.
type CSVError struct {
	Line int    // 1-based line where the problem was found
	Msg  string // what is wrong
}

func (e *CSVError) Error() string { return fmt.Sprintf("registry csv: line %d: %s", e.Line, e.Msg) }

// next reads one record into dst, returning the number of fields, or 0 at
// the end of the input. A record with more than len(dst) fields is an
// error.
func (r *csvReader) next(dst []string) (int, error) {
	if r.pos >= len(r.data) {
		return 0, nil
	}
	n := 0
	for {
		line := r.line
		field, end, err := r.field()
		if err != nil {
			return 0, err
		}
		if n == len(dst) {
			return 0, &CSVError{Line: line, Msg: fmt.Sprintf("more than %d fields", len(dst))}
		}
		dst[n] = field
		n++
		if end {
			return n, nil
		}
	}
}

// field reads one field and the separator after it; end is true when the
// separator ended the record (newline or end of input).
func (r *csvReader) field() (f string, end bool, err error) {
	d := r.data
	i := r.pos
	if i < len(d) && d[i] == '"' {
		start := i + 1
		i = start
		var b *strings.Builder
		for {
			j := strings.IndexByte(d[i:], '"')
			if j < 0 {
				return "", false, &CSVError{Line: r.line, Msg: "quoted field not closed"}
			}
			r.line += strings.Count(d[i:i+j], "\n")
			i += j
			if i+1 < len(d) && d[i+1] == '"' { // a doubled quote
				if b == nil {
					b = new(strings.Builder)
				}
				b.WriteString(d[start : i+1])
				i += 2
				start = i
				continue
			}
			break
		}
		if b != nil {
			b.WriteString(d[start:i])
			f = b.String()
		} else {
			f = d[start:i]
		}
		i++ // closing quote
		r.pos = i
		end, err = r.sep()
		return f, end, err
	}
	j := i
	for j < len(d) && d[j] != ',' && d[j] != '\n' {
		if d[j] == '"' {
			return "", false, &CSVError{Line: r.line, Msg: `bare " in unquoted field`}
		}
		j++
	}
	f = strings.TrimSuffix(d[i:j], "\r")
	r.pos = j
	end, err = r.sep()
	return f, end, err
}

// sep consumes the separator at r.pos.
func (r *csvReader) sep() (end bool, err error) {
	d := r.data
	i := r.pos
	if i < len(d) && d[i] == '\r' && i+1 < len(d) && d[i+1] == '\n' {
		i++
	}
	switch {
	case i >= len(d):
		r.pos = i
		return true, nil
	case d[i] == ',':
		r.pos = i + 1
		return false, nil
	case d[i] == '\n':
		r.pos = i + 1
		r.line++
		return true, nil
	}
	return false, &CSVError{Line: r.line, Msg: fmt.Sprintf("unexpected %q after quoted field", d[i])}
}
