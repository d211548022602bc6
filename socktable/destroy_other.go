//go:build !linux

package socktable

import (
	"context"
	"runtime"
)

func destroyOS(context.Context, Socket, *Options) error {
	return destroyUnsupported("socktable: destroying sockets is not supported on " + runtime.GOOS)
}
