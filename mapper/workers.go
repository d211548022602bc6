package mapper

import (
	"sync/atomic"
	"time"
)

// Goroutines of connections are reused: a connection's goroutine (and
// the second direction of its relay) is handed to a parked worker when
// one waits, and a new goroutine is started only when none does. A
// reused goroutine keeps the stack it grew on earlier connections, so a
// short connection does not pay for growing (copying) a fresh 8 KiB
// stack each time, as the CPU profile of BenchmarkShortConnections showed
// it did. At most maxIdleWorkers wait at once, and a worker that waited
// workerIdle for nothing ends, so an idle server holds none.
const (
	maxIdleWorkers = 128
	workerIdle     = time.Second
)

var (
	workerJobs  = make(chan func()) // unbuffered: a send succeeds only into a waiting worker
	idleWorkers atomic.Int32
	// workersStarted and liveWorkers count the goroutines goWorker
	// started and those still running, for the tests.
	workersStarted atomic.Int64
	liveWorkers    atomic.Int32
)

// goWorker runs f on a waiting worker, or on a new goroutine.
func goWorker(f func()) {
	select {
	case workerJobs <- f:
	default:
		workersStarted.Add(1)
		liveWorkers.Add(1)
		go worker(f)
	}
}

// worker runs f, then waits for more work, as goWorker says.
func worker(f func()) {
	defer liveWorkers.Add(-1)
	var t *time.Timer
	for {
		f()
		f = nil
		if idleWorkers.Add(1) > maxIdleWorkers {
			idleWorkers.Add(-1)
			return
		}
		if t == nil {
			t = time.NewTimer(workerIdle)
		} else {
			t.Reset(workerIdle)
		}
		select {
		case f = <-workerJobs:
			idleWorkers.Add(-1)
			t.Stop()
		case <-t.C:
			// No job is lost: a send into the unbuffered channel
			// happens only when this select takes it.
			idleWorkers.Add(-1)
			return
		}
	}
}
