//go:build !linux && !darwin && !windows

package socktable

import (
	"context"
	"iter"
)

func listOS(ctx context.Context, opts *Options) iter.Seq2[Socket, error] {
	return func(yield func(Socket, error) bool) { yield(Socket{}, ErrNotImplemented) }
}
