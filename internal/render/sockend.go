package render

// SocketEndV1 is the end of one socket, as the kernel reported it (`ports
// ls --events`).
type SocketEndV1 struct {
	Time   string      `json:"time"`  // when it was read, RFC 3339 with nanoseconds
	Proto  string      `json:"proto"` // tcp or udp
	State  string      `json:"state"` // the state it ended in, as ss prints it: mostly UNCONN (closed)
	Local  AddrPortV1  `json:"local"`
	Remote *AddrPortV1 `json:"remote"` // null when it had no peer
	// The byte counters of a TCP socket, from its tcp_info; null for UDP
	// (the kernel keeps none). bytes_acked counts the SYN and the FIN
	// sent, bytes_received the FIN received, bytes_sent retransmissions,
	// as ss -i shows them.
	BytesSent     *uint64 `json:"bytes_sent"`
	BytesAcked    *uint64 `json:"bytes_acked"`
	BytesReceived *uint64 `json:"bytes_received"`
	Retrans       *uint32 `json:"retrans"` // retransmitted segments
	// Known is set when the socket was listed (once a second) before it
	// ended: DurationS is then the seconds since the first listing that
	// held it (it lived at least that long) and Processes the processes
	// holding it at the last; otherwise they are null.
	Known     bool        `json:"known"`
	DurationS *float64    `json:"duration_s"`
	Processes []ProcessV1 `json:"processes"` // null when not Known, or with --no-procs
	// Lost counts ends the kernel dropped just before this one, because
	// the reader fell behind.
	Lost int `json:"lost,omitempty"`
	// Cookie is the kernel's id of the socket.
	Cookie uint64 `json:"cookie"`
}
