package cli

import (
	"context"
	"crypto/sha256"
	"os"
	ossignal "os/signal"
	"syscall"
	"time"

	"github.com/portkit/ports/internal/cfgfile"
)

// reloads is the reload loop of the daemons (serve and knockd): a reload
// on SIGHUP and, when it watches a file (serve --watch), when the file's
// content changes. SIGHUP is caught from newReloads on, so a daemon
// makes it before its listeners open: whoever sees them may signal.
type reloads struct {
	hup   chan os.Signal
	watch string          // the file compared every tick; "" for none
	also  func() []string // more files compared with it (serve: the rules' TLS files)
	limit int64           // the size limit of the watched file
	tick  *time.Ticker
	sum   [32]byte
}

// newReloads catches SIGHUP and, when watch names a file, looks at its
// content every interval (0: every second). Stop ends both.
func newReloads(watch string, limit int64, interval time.Duration) *reloads {
	r := &reloads{hup: make(chan os.Signal, 1), watch: watch, limit: limit}
	ossignal.Notify(r.hup, syscall.SIGHUP)
	if watch != "" {
		if interval <= 0 {
			interval = time.Second
		}
		r.tick = time.NewTicker(interval)
		r.sum = r.current()
	}
	return r
}

// watchAlso makes the watch compare the files also returns too, asked
// again after each reload (the running state decides which they are).
func (r *reloads) watchAlso(also func() []string) {
	r.also = also
	if r.watch != "" {
		r.sum = r.current()
	}
}

// current is the hash of the watched file and of the files r.also names.
func (r *reloads) current() [32]byte {
	sum := fileSum(r.watch, r.limit)
	if r.also == nil {
		return sum
	}
	h := sha256.New()
	h.Write(sum[:])
	for _, f := range r.also() {
		s := fileSum(f, r.limit)
		h.Write(s[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Stop stops catching SIGHUP and watching the file.
func (r *reloads) Stop() {
	ossignal.Stop(r.hup)
	if r.tick != nil {
		r.tick.Stop()
	}
}

// run reloads until ctx is done. Each reload tells systemd RELOADING=1
// (with why: "SIGHUP" or "file changed"), then calls reload, which
// builds the new state and puts it in place, or fails and must leave
// the old state running; then done reports what happened (systemd's
// READY=1 and STATUS, the log).
func (r *reloads) run(ctx context.Context, svc *service, reload func() error, done func(why string, err error)) {
	var tick <-chan time.Time
	if r.tick != nil {
		tick = r.tick.C
	}
	once := func(why string) {
		svc.reloading(why)
		err := reload()
		if r.watch != "" {
			r.sum = r.current() // the files the new state reads
		}
		done(why, err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.hup:
			once("SIGHUP")
		case <-tick:
			if s := r.current(); s != r.sum {
				r.sum = s
				once("file changed")
			}
		}
	}
}

// fileSum is what a watch compares: the hash of the file's content, or
// of why it cannot be read (a FIFO or /dev/zero is refused by cfgfile,
// never read), so that a file turning bad is a change, and reloaded (and
// refused, keeping the old state) once.
func fileSum(path string, limit int64) [32]byte {
	data, err := cfgfile.Read(path, limit)
	if err != nil {
		return sha256.Sum256([]byte("error: " + err.Error()))
	}
	return sha256.Sum256(data)
}
