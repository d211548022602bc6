package porttest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// doResult carries fn's outcome from the locked goroutine to Do's caller.
type doResult struct {
	err      error
	panicked bool
	panicVal any
}

func (h *Host) do(fn func() error) error {
	target, err := os.Open(filepath.Join(netnsDir, h.Name))
	if err != nil {
		return fmt.Errorf("porttest: open namespace %s: %w", h.Name, err)
	}
	defer target.Close()

	// A fresh goroutine, so that the caller's thread is never switched
	// and a thread that cannot be switched back can simply be discarded.
	done := make(chan doResult, 1)
	go func() { done <- runInNetns(h.Name, target, fn) }()
	r := <-done
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}

// runInNetns runs fn with the current thread in the namespace target. It
// must run on a goroutine of its own: on return the goroutine either has
// its thread back in the original namespace and unlocked, or still locked,
// in which case the runtime terminates the thread when the goroutine exits.
func runInNetns(name string, target *os.File, fn func() error) (r doResult) {
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return doResult{err: fmt.Errorf("porttest: open current namespace: %w", err)}
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return doResult{err: fmt.Errorf("porttest: enter namespace %s: %w", name, err)}
	}
	defer func() {
		if p := recover(); p != nil {
			r = doResult{panicked: true, panicVal: p}
		}
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stay locked: see above.
			if !r.panicked {
				r.err = errors.Join(r.err, fmt.Errorf("porttest: leave namespace %s: %w", name, err))
			}
			return
		}
		runtime.UnlockOSThread()
	}()
	return doResult{err: fn()}
}
