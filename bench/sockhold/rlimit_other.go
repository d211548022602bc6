//go:build !unix

package main

// raiseNoFile reports a limit of 1<<20 files: this OS (Windows) has no
// RLIMIT_NOFILE, and its handle limit is far higher than sockhold needs.
func raiseNoFile() (soft, hard uint64, err error) { return 1 << 20, 1 << 20, nil }
