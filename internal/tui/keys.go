package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap holds the key bindings of the table view; help renders them.
type keyMap struct {
	Up, Down, PageUp, PageDown, Home, End key.Binding
	Collapse, Expand                      key.Binding
	Filter, ClearFilter                   key.Binding
	SortNext, SortPrev, Reverse           key.Binding
	Listening, TCP, UDP, IPv4, IPv6       key.Binding
	Detail, Kill, Help, Quit              key.Binding
}

func newKeyMap() keyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return keyMap{
		Up:          b("↑", "up", "up", "ctrl+p"),
		Down:        b("↓", "down", "down", "ctrl+n"),
		PageUp:      b("pgup", "page up", "pgup"),
		PageDown:    b("pgdn", "page down", "pgdown", " "),
		Home:        b("home/g", "first row", "home", "g"),
		End:         b("end/G", "last row", "end", "G"),
		Collapse:    b("←", "fold a process", "left"),
		Expand:      b("→", "unfold", "right"),
		Filter:      b("/", "filter", "/"),
		ClearFilter: b("esc", "clear filter", "esc"),
		SortNext:    b(">", "sort by next column", ">", "."),
		SortPrev:    b("<", "sort by previous column", "<", ","),
		Reverse:     b("r", "reverse the sort", "r"),
		Listening:   b("l", "listening / all", "l", "a"),
		TCP:         b("t", "TCP only / both", "t"),
		UDP:         b("u", "UDP only / both", "u"),
		IPv4:        b("4", "IPv4 only / both", "4"),
		IPv6:        b("6", "IPv6 only / both", "6"),
		Detail:      b("enter", "details", "enter"),
		Kill:        b("k", "kill the listener", "k"),
		Help:        b("?", "keys", "?"),
		Quit:        b("q", "quit", "q", "ctrl+c"),
	}
}

// ShortHelp is the footer line.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Help, k.Filter, k.SortNext, k.Listening, k.Detail, k.Kill, k.Quit}
}

// FullHelp is the `?` screen, in columns.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End, k.Collapse, k.Expand},
		{k.Filter, k.ClearFilter, k.SortNext, k.SortPrev, k.Reverse, k.Listening, k.TCP, k.UDP},
		{k.IPv4, k.IPv6, k.Detail, k.Kill, k.Help, k.Quit},
	}
}
