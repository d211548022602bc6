package mapper

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestWorkersReusedAndEnd: connections run one after another take the
// goroutine the last one left waiting (the count of goroutines grows by
// at most one over 200 of them), and the waiting worker ends once idle.
func TestWorkersReusedAndEnd(t *testing.T) {
	// Earlier tests' workers end within workerIdle.
	base := settledGoroutines(t, -1)
	for range 200 {
		var wg sync.WaitGroup
		wg.Add(1)
		goWorker(func() { wg.Done() })
		wg.Wait()
		// The worker counts itself idle just after f returns.
		for idleWorkers.Load() == 0 {
			runtime.Gosched()
		}
	}
	if got := runtime.NumGoroutine(); got > base+1 {
		t.Fatalf("%d goroutines after 200 connections in a row, %d before: workers were not reused", got, base)
	}
	if got := settledGoroutines(t, base); got > base {
		t.Fatalf("%d goroutines %v after the last connection, %d before: the idle worker did not end", got, 10*workerIdle, base)
	}
	if n := idleWorkers.Load(); n != 0 {
		t.Fatalf("%d workers counted idle after all ended", n)
	}
}

// settledGoroutines waits (at most 10 × workerIdle) until the count of
// goroutines is at most want (any count when want < 0, after the
// workers of earlier tests ended) and returns it.
func settledGoroutines(t *testing.T, want int) int {
	t.Helper()
	deadline := time.Now().Add(10 * workerIdle)
	for {
		n := runtime.NumGoroutine()
		if (want >= 0 && n <= want) || (want < 0 && idleWorkers.Load() == 0) || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}
