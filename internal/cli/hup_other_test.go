//go:build !unix

package cli

import "errors"

func sendHUP() error { return errors.ErrUnsupported }
