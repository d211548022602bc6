//go:build !linux

package socktable

import (
	"context"
	"iter"
)

func endsOS(ctx context.Context, opts *Options) iter.Seq2[SocketEnd, error] {
	return func(yield func(SocketEnd, error) bool) { yield(SocketEnd{}, ErrNoEvents) }
}
