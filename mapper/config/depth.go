package config

// The TOML decoder takes time and memory quadratic in how deeply a value
// is nested (6,000 nested inline tables, 36 KB of text, took 12 s and
// 1.8 GB; dotted keys a.a.a… do the same), so Parse measures the nesting
// with the scan below, which is linear and allocates nothing but its
// stack, and refuses a file nested deeper than MaxDepth before decoding
// it. A rule file needs 4 ([[rule]] is 2, a key 3, a key in spa = {…} 4).

// MaxDepth is the deepest nesting of tables, arrays and dotted keys a
// rule file may have.
const MaxDepth = 32

// nesting is what scanDepth found: the deepest level, and the line where
// the nesting first went past the limit it was given (0 if it did not).
type nesting struct {
	max, overLine int
}

// scanDepth measures how deeply the TOML text data nests. Each level is
// a table or array the decoder would make: a table header [a.b] (2; an
// array of tables [[a]] one more), a key's dotted parts (a.b.c = 1 is 3
// under its table), an inline table or an array (one more than the key
// or array holding it). Strings (basic, literal, multi-line, with their
// escapes) and comments are skipped, so brackets in them do not count.
// The result is never below the depth of what the decoder builds from
// the same text (FuzzScanDepth checks it); on text that is not TOML it
// is a best effort, and the decoder reports the error.
func scanDepth(data []byte, limit int) nesting {
	var (
		n         nesting
		line      = 1
		stack     []frame // open inline tables and arrays
		base      int     // the depth of the table the top-level keys are in
		expectKey = true  // a key may start here (else a value)
		keyDepth  int     // the depth of the key being read
		valDepth  int     // the depth of the key whose value follows '='
	)
	note := func(d int) {
		if d > n.max {
			n.max = d
		}
		if d > limit && n.overLine == 0 {
			n.overLine = line
		}
	}
	// container is the depth of the innermost table keys go in.
	container := func() int {
		if len(stack) > 0 {
			return stack[len(stack)-1].depth
		}
		return base
	}
	startKey := func() {
		keyDepth = container() + 1
		note(keyDepth)
	}
	inKey := false // inside a key, between its first character and '='
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch c {
		case '\n':
			line++
			if len(stack) == 0 {
				expectKey, inKey = true, false
			}
			continue
		case ' ', '\t', '\r':
			continue
		case '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
			continue
		case '"', '\'':
			if expectKey && !inKey {
				inKey = true
				startKey()
			}
			i, line = skipString(data, i, line)
			continue
		}
		if expectKey {
			switch {
			case c == '[' && len(stack) == 0 && !inKey:
				// A table header: [a.b] or [[a.b]].
				d := 1
				if i+1 < len(data) && data[i+1] == '[' {
					d++
					i++
				}
				for i+1 < len(data) && data[i+1] != ']' && data[i+1] != '\n' {
					i++
					switch data[i] {
					case '.':
						d++
					case '"', '\'':
						i, line = skipString(data, i, line)
					}
				}
				note(d)
				base = d
				expectKey = false // the rest of the line is ']' or ']]'
				continue
			case c == '}' && len(stack) > 0 && stack[len(stack)-1].kind == '{':
				// An empty inline table, or a trailing comma.
				stack = stack[:len(stack)-1]
				expectKey, inKey = false, false
				continue
			case c == '=':
				valDepth = keyDepth
				expectKey, inKey = false, false
				continue
			case c == '.' && inKey:
				keyDepth++
				note(keyDepth)
				continue
			}
			if !inKey {
				inKey = true
				startKey()
			}
			continue
		}
		switch c {
		case '[', '{':
			d := valDepth
			if len(stack) > 0 && stack[len(stack)-1].kind == '[' {
				d = stack[len(stack)-1].depth + 1
			}
			if d < 1 {
				d = 1
			}
			note(d)
			stack = append(stack, frame{kind: c, depth: d})
			if c == '{' {
				expectKey, inKey = true, false
			}
		case ']', '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if len(stack) > 0 && stack[len(stack)-1].kind == '{' {
				expectKey, inKey = true, false
			}
		}
	}
	return n
}

type frame struct {
	kind  byte // '[' or '{'
	depth int
}

// skipString returns the index of the last byte of the string starting
// at data[i] (a quote), and the line count after it. A single-line
// string that is not closed ends at the end of its line.
func skipString(data []byte, i, line int) (int, int) {
	q := data[i]
	if i+2 < len(data) && data[i+1] == q && data[i+2] == q {
		// Multi-line: ends at the next run of three quotes (up to two
		// more quotes just inside the delimiter belong to the string).
		for j := i + 3; j < len(data); j++ {
			switch data[j] {
			case '\n':
				line++
			case '\\':
				if q == '"' && j+1 < len(data) {
					j++
					if data[j] == '\n' {
						line++
					}
				}
			case q:
				r := 0
				for j+r < len(data) && data[j+r] == q {
					r++
				}
				if r >= 3 {
					return j + min(r, 5) - 1, line
				}
				j += r - 1
			}
		}
		return len(data) - 1, line
	}
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\n':
			return j - 1, line // unterminated: the newline is scanned as usual
		case '\\':
			if q == '"' && j+1 < len(data) && data[j+1] != '\n' {
				j++
			}
		case q:
			return j, line
		}
	}
	return len(data) - 1, line
}
