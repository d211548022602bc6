package ports

// ServerPort returns the server's port of a connection between ports a
// and b, as decode, flows, ls and top all decide it: the first piece of
// evidence that tells the two apart wins (each reports whether a port is
// known to be a service's: a listener on this machine, a registered
// name, a port outside the ephemeral range), and when none does, the
// lower port, since services sit on the low ports and clients get
// ephemeral ones. A nil evidence function is skipped.
func ServerPort(a, b Port, evidence ...func(Port) bool) Port {
	for _, known := range evidence {
		if known == nil {
			continue
		}
		if ka, kb := known(a), known(b); ka != kb {
			if ka {
				return a
			}
			return b
		}
	}
	return min(a, b)
}
