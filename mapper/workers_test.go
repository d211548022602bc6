package mapper

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestWorkersReusedAndEnd: connections run one after another take the
// goroutine the last one left waiting, so far fewer goroutines are
// started than connections run (one each if workers were not reused;
// a few more than one where a job comes in the instant between a
// worker counting itself idle and its wait), and every worker ends
// once idle. Counted by goWorker itself, not by runtime.NumGoroutine,
// which other tests' goroutines move.
func TestWorkersReusedAndEnd(t *testing.T) {
	const jobs = 200
	started := workersStarted.Load()
	// Workers still running an earlier test's connection may go on.
	busy := liveWorkers.Load() - idleWorkers.Load()
	for range jobs {
		var wg sync.WaitGroup
		wg.Add(1)
		goWorker(func() { wg.Done() })
		wg.Wait()
		// The worker counts itself idle just after f returns.
		for idleWorkers.Load() == 0 {
			runtime.Gosched()
		}
	}
	if n := workersStarted.Load() - started; n > jobs/4 {
		t.Fatalf("%d goroutines started for %d connections in a row: workers were not reused", n, jobs)
	}
	deadline := time.Now().Add(10 * workerIdle)
	for (liveWorkers.Load() > busy || idleWorkers.Load() > 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := liveWorkers.Load(); n > busy {
		t.Fatalf("%d workers still running %v after the last connection (%d were busy before): the idle ones did not end", n, 10*workerIdle, busy)
	}
	if n := idleWorkers.Load(); n != 0 {
		t.Fatalf("%d workers counted idle after all ended", n)
	}
}
