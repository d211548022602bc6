//go:build !linux

package nfteval

func load() (rulesetImpl, error) { return nil, ErrNotImplemented }
