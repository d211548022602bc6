package render

// AuditV1 is `ports audit --format json`: every listening socket's
// exposure and the counts.
type AuditV1 struct {
	Ports   []AuditPortV1  `json:"ports"`
	Summary AuditSummaryV1 `json:"summary"`
}

// AuditPortV1 is one listening TCP or bound UDP socket.
type AuditPortV1 struct {
	Proto string     `json:"proto"`
	Local AddrPortV1 `json:"local"`
	// Listens is loopback, interface (one interface's address),
	// wildcard (every interface) or "no interface" (an address no
	// interface holds).
	Listens string `json:"listens"`
	// Interfaces hold the addresses it listens on ([] for loopback).
	Interfaces []string `json:"interfaces"`
	// Reaches are the ways in from outside: for each non-loopback
	// interface a connection may arrive on, each address the socket
	// listens on; [] for loopback.
	Reaches []AuditReachV1 `json:"reaches"`
	// Exposed: a new connection through an external interface is
	// accepted. MaybeExposed: not exposed, but such a verdict was not
	// evaluated.
	Exposed      bool          `json:"exposed"`
	MaybeExposed bool          `json:"maybe_exposed"`
	Processes    []ProcessV1   `json:"processes"` // [] when none was found
	ProcsHidden  bool          `json:"procs_hidden"`
	UID          uint32        `json:"uid"`
	Root         bool          `json:"root"` // the socket's owner or a holder is uid 0
	Flags        []AuditFlagV1 `json:"flags"`
}

// AuditReachV1 is one interface address a client from outside could
// connect to, and the firewall's verdict.
type AuditReachV1 struct {
	Interface string `json:"interface"` // the interface the connection arrives on
	// External is set when a default route goes through the interface.
	External bool   `json:"external"`
	Addr     string `json:"addr"`
	// From is the client address the verdict is for (--from); "" for
	// any client.
	From string `json:"from"`
	// Verdict is accepted, dropped or "not evaluated"; Reject is set
	// for a drop by a reject.
	Verdict string `json:"verdict"`
	Reject  bool   `json:"reject"`
	// Rule is the rule or chain policy that decided, or the rule not
	// evaluated: "table inet filter chain input handle 7"; "" when no
	// base chain sees the connection. Reason says what was not
	// understood.
	Rule   string `json:"rule"`
	Reason string `json:"reason,omitempty"`
}

// AuditFlagV1 is a reason to look at a port.
type AuditFlagV1 struct {
	Kind   string `json:"kind"` // iana-unauthorized-use or trojan
	Note   string `json:"note"` // IANA's note or the trojan's name
	Source string `json:"source"`
}

// AuditSummaryV1 counts the ports.
type AuditSummaryV1 struct {
	Listening    int `json:"listening"`
	Exposed      int `json:"exposed"`       // exposed to the outside
	MaybeExposed int `json:"maybe_exposed"` // a verdict through an external interface not evaluated
	Flagged      int `json:"flagged"`       // flagged and exposed: the exit status is 1
}
