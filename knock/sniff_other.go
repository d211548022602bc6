//go:build !linux

package knock

import "context"

func sniff(context.Context, *Server, string) error { return ErrNotImplemented }
