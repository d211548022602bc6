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
