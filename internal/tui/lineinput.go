package tui

import (
	"strings"
	"unicode"

	tea "github.com/charmbracelet/bubbletea"
)

// lineInput is the one-line editor of the filter: typing, backspace,
// ctrl+u and ctrl+w. It stands in for bubbles' textinput, which brings
// in a clipboard package that looks for xclip and xsel on $PATH when
// the program starts: every `ports` command would pay for that.
type lineInput struct {
	Prompt      string
	Placeholder string
	Width       int
	value       []rune
	focused     bool
}

func (l *lineInput) Value() string     { return string(l.value) }
func (l *lineInput) SetValue(s string) { l.value = []rune(s) }
func (l *lineInput) CursorEnd()        {}
func (l *lineInput) Blur()             { l.focused = false }

// Focus starts editing; it needs no command.
func (l *lineInput) Focus() tea.Cmd {
	l.focused = true
	return nil
}

// Update edits the line with a key press.
func (l lineInput) Update(msg tea.Msg) (lineInput, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok || !l.focused {
		return l, nil
	}
	switch k.Type {
	case tea.KeyBackspace:
		if n := len(l.value); n > 0 {
			l.value = l.value[:n-1]
		}
	case tea.KeyCtrlU:
		l.value = l.value[:0]
	case tea.KeyCtrlW:
		v := strings.TrimRightFunc(string(l.value), unicode.IsSpace)
		if i := strings.LastIndexFunc(v, unicode.IsSpace); i >= 0 {
			l.value = []rune(v[:i+1])
		} else {
			l.value = l.value[:0]
		}
	case tea.KeySpace:
		l.value = append(l.value, ' ')
	case tea.KeyRunes:
		l.value = append(l.value, k.Runes...)
	}
	return l, nil
}

// View shows the prompt and the text, or the placeholder when empty, cut
// to the width from the left so the end being typed stays visible.
func (l lineInput) View() string {
	text := string(l.value)
	if text == "" && !l.focused {
		text = l.Placeholder
	}
	s := l.Prompt + text
	if l.focused {
		s += "█"
	}
	if r := []rune(s); l.Width > 0 && len(r) > l.Width {
		s = string(r[len(r)-l.Width:])
	}
	return s
}
