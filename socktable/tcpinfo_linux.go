package socktable

import (
	"context"
	"iter"
)

// countersOS reads the counters with a sock_diag dump that asks for
// INET_DIAG_INFO.
func countersOS(ctx context.Context, opts *Options) iter.Seq2[TCPCounters, error] {
	var s Socket
	return tcpDump(ctx, opts, ErrNoCounters, "counters", appendCountersRequest, func(p []byte, c *TCPCounters) bool {
		return countersMsg(p, opts, &s, c)
	})
}
