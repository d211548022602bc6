package spa_test

import (
	"os"
	"testing"

	"github.com/portkit/ports/internal/porttest"
)

// syncBuffer collects log output from several goroutines.
type syncBuffer = porttest.LogBuffer

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	porttest.WaitFor(t, what, cond)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
