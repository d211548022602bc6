//go:build race

package mapper_test

// raceEnabled: the race detector's sync.Pool drops a share of what is
// put back, so splice pipes wait for the garbage collector to be closed
// and a process holds many more descriptors at once.
const raceEnabled = true
