package cfgfile

import (
	"errors"
	"fmt"
	"strconv"
)

// Problem is one thing wrong in a configuration file, in the one shape
// every configuration parser of this module reports (knock.ParseConfig,
// spa.ParseAccessFile, mapper/config.Parse), so that a program prints
// them all one way.
type Problem struct {
	File string
	Line int // from 1; 0 when the problem is the whole file's
	Msg  string
}

// String returns "FILE:LINE: MSG", or "FILE: MSG" without a line.
func (p Problem) String() string {
	s := p.File
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line)
	}
	return s + ": " + p.Msg
}

// Problems is an error made of problems, for parsers that have no error
// type of their own; it is never empty.
type Problems []Problem

// Error gives the first problem and how many more there are, on one line.
func (ps Problems) Error() string {
	if len(ps) == 0 {
		return "no problems"
	}
	s := ps[0].String()
	if n := len(ps) - 1; n == 1 {
		s += " (and 1 more problem)"
	} else if n > 1 {
		s += fmt.Sprintf(" (and %d more problems)", n)
	}
	return s
}

// FileProblems returns ps.
func (ps Problems) FileProblems() []Problem { return ps }

// ProblemsOf returns the problems of err when it is (or wraps) a parser's
// error about a file's content: an error with a FileProblems method that
// returns some. Otherwise it returns nil: err is about something else
// (the file could not be read, say).
func ProblemsOf(err error) []Problem {
	var pe interface{ FileProblems() []Problem }
	if errors.As(err, &pe) {
		return pe.FileProblems()
	}
	return nil
}
