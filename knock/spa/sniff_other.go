//go:build !linux

package spa

import "context"

func sniff(context.Context, *Server, string, uint16) error { return ErrNotImplemented }
