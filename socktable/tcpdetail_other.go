//go:build !linux

package socktable

import (
	"context"
	"iter"
)

func detailsOS(context.Context, *Options) iter.Seq2[TCPDetail, error] {
	return func(yield func(TCPDetail, error) bool) { yield(TCPDetail{}, ErrNoDetail) }
}
