package mapper

// File descriptors per connection: a mapped TCP connection (or proxy
// tunnel) holds the client's socket and the upstream's, so a rule's
// max_conns must fit twice over in the process's descriptor limit, or
// accept fails with EMFILE before the limit is reached.
const (
	fdsPerConn = 2
	// fdReserve is kept out of the connection budget for the
	// listeners, log files, the metrics server and its readers, DNS
	// lookups and the splice pipes in flight; at most a quarter of a
	// small limit.
	fdReserve = 500
)

// FDBudget returns how many connections at once fit in a descriptor
// limit of limit (RLIMIT_NOFILE), about 2 descriptors each after a
// reserve, and at least 1. A limit of 0 (unknown) gives DefaultMaxConns.
func FDBudget(limit uint64) int {
	if limit == 0 {
		return DefaultMaxConns
	}
	reserve := min(fdReserve, limit/4)
	return max(1, int((limit-reserve)/fdsPerConn))
}

// defaultMaxConns is a rule's max_conns when it names none:
// DefaultMaxConns, or fewer when the process's descriptor limit does not
// hold that many.
func defaultMaxConns() (n int, limit uint64) {
	limit = fdLimit()
	return min(DefaultMaxConns, FDBudget(limit)), limit
}
