//go:build !linux

package nftset

func open(Name) (osImpl, error) { return nil, ErrNotImplemented }

func openNAT(Name) (natImpl, error) { return nil, ErrNotImplemented }
