package knock

import (
	"net/netip"
	"strings"
)

// SplitCommand splits a command line into words as a POSIX shell does,
// without expanding anything: blanks separate words; 'single quotes'
// keep everything literally; "double quotes" keep everything but let a
// backslash escape ", \, $ and `; outside quotes a backslash escapes the
// next character. An unterminated quote or a trailing backslash is an
// error, as is an empty command.
func SplitCommand(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\\':
			if i+1 >= len(s) {
				return nil, &SyntaxError{Input: s, Msg: "command ends with a backslash"}
			}
			i++
			cur.WriteByte(s[i])
			in = true
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, &SyntaxError{Input: s, Msg: "unterminated ' in command"}
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, &SyntaxError{Input: s, Msg: "unterminated \" in command"}
			}
			in = true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, &SyntaxError{Input: s, Msg: "empty command"}
	}
	return words, nil
}

// ExpandCommand splits command with SplitCommand and then replaces %IP%
// in each word with ip, so that the address can never add or split
// words.
func ExpandCommand(command string, ip netip.Addr) ([]string, error) {
	words, err := SplitCommand(command)
	if err != nil {
		return nil, err
	}
	for i, w := range words {
		words[i] = strings.ReplaceAll(w, "%IP%", ip.String())
	}
	return words, nil
}

// ShellSyntax returns the first piece of shell syntax in command that
// SplitCommand would take literally but /bin/sh would not (knockd runs
// its commands with sh -c): outside quotes ; & | < > ( ) ` $( ${ $NAME
// and a # starting a word; inside double quotes ` $( ${ $NAME. It returns
// "" when the command means the same split into words as run by a
// shell, apart from globs (* ? [) and ~, which it does not report.
func ShellSyntax(command string) string {
	word := false // inside a word (for #)
	for i := 0; i < len(command); i++ {
		c := command[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			word = false
			continue
		case '\\':
			i++
		case '\'':
			j := strings.IndexByte(command[i+1:], '\'')
			if j < 0 {
				return ""
			}
			i += j + 1
		case '"':
			for i++; i < len(command) && command[i] != '"'; i++ {
				switch command[i] {
				case '\\':
					i++
				case '`':
					return "`"
				case '$':
					if s := dollar(command[i:]); s != "" {
						return s
					}
				}
			}
		case ';', '&', '|', '<', '>', '(', ')', '`':
			if (c == '&' || c == '|' || c == ';') && i+1 < len(command) && command[i+1] == c {
				return command[i : i+2]
			}
			return string(c)
		case '$':
			if s := dollar(command[i:]); s != "" {
				return s
			}
		case '#':
			if !word {
				return "#"
			}
		}
		word = true
	}
	return ""
}

// dollar reports the expansion s starts with ($(, ${ or $NAME), or "".
func dollar(s string) string {
	if len(s) < 2 {
		return ""
	}
	switch c := s[1]; {
	case c == '(' || c == '{':
		return s[:2]
	case c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("@*#?$!-", c) >= 0:
		return s[:2]
	}
	return ""
}

// ShellCommand is the argument list that runs command through /bin/sh
// -c, as knockd does, but with the address never pasted into the text:
// each %IP% becomes a reference to the script's first argument ("$1"
// outside quotes, $1 inside double quotes, '"$1"' inside single quotes),
// and ip is passed as that argument.
func ShellCommand(command string, ip netip.Addr) []string {
	var b strings.Builder
	const ref = "%IP%"
	quote := byte(0) // the quote we are inside, or 0
	for i := 0; i < len(command); i++ {
		if strings.HasPrefix(command[i:], ref) {
			switch quote {
			case 0:
				b.WriteString(`"$1"`)
			case '"':
				b.WriteString(`$1`)
			case '\'':
				b.WriteString(`'"$1"'`)
			}
			i += len(ref) - 1
			continue
		}
		c := command[i]
		b.WriteByte(c)
		switch {
		case c == '\\' && quote != '\'' && i+1 < len(command):
			i++
			b.WriteByte(command[i])
		case (c == '\'' || c == '"') && quote == 0:
			quote = c
		case c == quote:
			quote = 0
		}
	}
	return []string{"/bin/sh", "-c", b.String(), "knockd", ip.String()}
}

// command is the argument list that runs command for ip: split into
// words (ExpandCommand), or through /bin/sh with Door.Shell.
func (d *Door) command(command string, ip netip.Addr) ([]string, error) {
	if d.Shell {
		return ShellCommand(command, ip), nil
	}
	return ExpandCommand(command, ip)
}
