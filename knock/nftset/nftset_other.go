//go:build !linux

package nftset

func open(Name) (osImpl, error) { return nil, ErrNotImplemented }
