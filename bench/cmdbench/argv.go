package main

import (
	"fmt"
	"strings"
)

// A spec is one command to benchmark, parsed from a NAME=CMD argument.
type spec struct {
	Name string   // label in the table; no whitespace, '=' or '|'
	Argv []string // argv[0] is looked up in $PATH like exec.LookPath
}

// parseSpec parses a NAME=CMD argument. NAME is everything before the
// first '='; CMD is split into an argv by splitArgs.
func parseSpec(arg string) (spec, error) {
	name, cmd, ok := strings.Cut(arg, "=")
	if !ok || name == "" {
		return spec{}, fmt.Errorf("command %q: want NAME=CMD", arg)
	}
	if i := strings.IndexAny(name, " \t\n\r|'\"\\`"); i >= 0 {
		return spec{}, fmt.Errorf("command %q: name %q contains %q (missing NAME= prefix?)", arg, name, name[i])
	}
	argv, err := splitArgs(cmd)
	if err != nil {
		return spec{}, fmt.Errorf("command %q: %w", name, err)
	}
	if len(argv) == 0 {
		return spec{}, fmt.Errorf("command %q: empty CMD", name)
	}
	return spec{Name: name, Argv: argv}, nil
}

// shellMeta are the characters that a shell would treat as syntax outside
// quotes. splitArgs runs no shell, so it rejects them unquoted rather than
// pass them on as literal arguments by surprise.
const shellMeta = "|&;<>()$`"

// splitArgs splits s into an argv without running a shell, with a small
// subset of POSIX sh quoting:
//
//   - blanks (space, tab, newline) separate words;
//   - '...' quotes literally, with no escapes inside;
//   - "..." quotes, and inside it a backslash escapes only '"' and '\';
//   - outside quotes a backslash makes the next character literal;
//   - adjacent pieces join into one word: a'b c'"d" is "ab cd";
//   - quotes with nothing between them give an empty word.
//
// Nothing is expanded: no variables, globs, ~ or command substitution.
// The shell metacharacters | & ; < > ( ) $ ` are an error unless quoted.
func splitArgs(s string) ([]string, error) {
	var (
		args   []string
		word   strings.Builder
		inWord bool // word holds a word, maybe empty ("")
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				args = append(args, word.String())
				word.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, &syntaxError{s, i, "unterminated ' quote"}
			}
			word.WriteString(s[i+1 : i+1+end])
			i += 1 + end
			inWord = true
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) && (s[j+1] == '"' || s[j+1] == '\\') {
					j++
				}
				word.WriteByte(s[j])
			}
			if j == len(s) {
				return nil, &syntaxError{s, i, `unterminated " quote`}
			}
			i = j
			inWord = true
		case c == '\\':
			if i+1 == len(s) {
				return nil, &syntaxError{s, i, "trailing backslash"}
			}
			i++
			word.WriteByte(s[i])
			inWord = true
		case strings.IndexByte(shellMeta, c) >= 0:
			return nil, &syntaxError{s, i, fmt.Sprintf("unquoted %q: no shell is run; quote it, or use sh -c '...'", c)}
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		args = append(args, word.String())
	}
	return args, nil
}

// A syntaxError reports where splitArgs failed.
type syntaxError struct {
	In  string // the whole input
	Off int    // byte offset of the offending character
	Msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("parsing %q at offset %d: %s", e.In, e.Off, e.Msg)
}

// joinArgs formats argv for display so that splitArgs(joinArgs(argv))
// gives argv back: plain words are left alone, others are single-quoted.
func joinArgs(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && !strings.ContainsAny(a, " \t\n\r'\"\\"+shellMeta) {
			b.WriteString(a)
			continue
		}
		// 'it'\''s' is how sh puts a ' inside single quotes.
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}
