//go:build race

package cli

// raceEnabled: the race detector slows allocation-heavy tests tenfold.
const raceEnabled = true
