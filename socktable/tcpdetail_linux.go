package socktable

import (
	"context"
	"iter"
)

// detailsOS reads the internals with one sock_diag dump.
func detailsOS(ctx context.Context, opts *Options) iter.Seq2[TCPDetail, error] {
	return tcpDump(ctx, opts, ErrNoDetail, "details", appendDetailRequest, func(p []byte, d *TCPDetail) bool {
		return decodeDetail(p, d) && opts.match(&d.Socket)
	})
}
