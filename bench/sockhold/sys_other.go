//go:build !linux

package main

import "os/exec"

// setParentDeathSignal does nothing: only Linux has a parent-death
// signal. Workers still stop when their stdin, a pipe from sockhold,
// closes, which it does when sockhold exits.
func setParentDeathSignal(*exec.Cmd) {}
