//go:build !linux

package socktable

import (
	"context"
	"iter"
)

func countersOS(context.Context, *Options) iter.Seq2[TCPCounters, error] {
	return func(yield func(TCPCounters, error) bool) { yield(TCPCounters{}, ErrNoCounters) }
}
