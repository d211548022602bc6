package socktable

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/portkit/ports"
)

func listOS(ctx context.Context, opts *Options) iter.Seq2[Socket, error] {
	return func(yield func(Socket, error) bool) {
		src, err := openSource(opts.NetNS)
		if err != nil {
			yield(Socket{}, err)
			return
		}
		defer src.close()
		if !opts.Processes {
			for s, err := range src.sockets(ctx, opts) {
				if !yield(s, err) || err != nil {
					return
				}
			}
			return
		}
		// Processes are matched by inode, so gather first, in chunks
		// (one slice grown to 18,000 sockets copied them about five
		// times over), while the processes are read.
		walk := startFDWalk(ctx)
		var chunks [][]Socket
		for s, err := range src.sockets(ctx, opts) {
			if err != nil {
				walk.stop()
				yield(Socket{}, err)
				return
			}
			if len(chunks) == 0 || len(chunks[len(chunks)-1]) == cap(chunks[len(chunks)-1]) {
				chunks = append(chunks, make([]Socket, 0, 2048))
			}
			c := &chunks[len(chunks)-1]
			*c = append(*c, s)
		}
		if len(chunks) == 0 {
			walk.stop()
			return
		}
		if err := walk.attach(ctx, chunks); err != nil {
			yield(Socket{}, err)
			return
		}
		for _, c := range chunks {
			for _, s := range c {
				if !yield(s, nil) {
					return
				}
			}
		}
	}
}

// source is where sockets come from: a sock_diag netlink socket, or, if
// netlink was refused, the /proc/net tables (opened in the right network
// namespace).
type source struct {
	fd    int        // netlink socket, or -1
	files []*os.File // /proc/net tables when fd is -1: tcp, tcp6, udp, udp6
}

func (s *source) close() {
	if s.fd >= 0 {
		unix.Close(s.fd)
	}
	for _, f := range s.files {
		if f != nil {
			f.Close()
		}
	}
}

var procNetTables = []struct {
	name  string
	proto ports.Proto
	v6    bool
}{
	{"tcp", ports.ProtoTCP, false}, {"tcp6", ports.ProtoTCP, true},
	{"udp", ports.ProtoUDP, false}, {"udp6", ports.ProtoUDP, true},
}

// openSource opens the socket source in the network namespace netns
// ("" for the caller's). Sockets and files opened in a namespace stay
// tied to it, so the thread switches only while opening them.
func openSource(netns string) (*source, error) {
	if netns == "" {
		return openSourceHere()
	}
	path := netns
	if !strings.ContainsRune(netns, '/') {
		path = "/var/run/netns/" + netns
	}
	nsf, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Say where the name was looked for, as "ip netns" would.
			return nil, &NetNSError{Name: netns, Err: fmt.Errorf("no such namespace (%s does not exist)", path)}
		}
		return nil, &NetNSError{Name: netns, Err: err}
	}
	defer nsf.Close()
	type result struct {
		src *source
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// A thread that cannot be switched back must die with its
		// goroutine, so unlock only after a good return.
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("socktable: %w", err)}
			return
		}
		defer self.Close()
		if err := unix.Setns(int(nsf.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			if errors.Is(err, unix.EINVAL) {
				err = fmt.Errorf("%s is not a network namespace: %w", path, err)
			} else {
				err = &os.PathError{Op: "entering", Path: path, Err: err}
			}
			ch <- result{nil, &NetNSError{Name: netns, Err: err}}
			return
		}
		src, err := openSourceHere()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			if src != nil {
				src.close()
			}
			ch <- result{nil, &NetNSError{Name: netns, Err: fmt.Errorf("returning from it: %w", err)}}
			return // the thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		ch <- result{src, err}
	}()
	r := <-ch
	return r.src, r.err
}

// netlinkSocket opens a sock_diag socket; tests replace it to exercise
// the /proc fallback.
var netlinkSocket = func() (int, error) {
	return unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
}

// openSourceHere opens a sock_diag socket in the calling thread's
// namespace, or its /proc/net tables if netlink is refused.
func openSourceHere() (*source, error) {
	fd, err := netlinkSocket()
	if err == nil {
		return &source{fd: fd}, nil
	}
	src := &source{fd: -1}
	for _, t := range procNetTables {
		// thread-self: the tables of this thread's namespace.
		f, ferr := os.Open("/proc/thread-self/net/" + t.name)
		if ferr != nil && !errors.Is(ferr, os.ErrNotExist) { // tcp6 is missing without IPv6
			src.close()
			return nil, fmt.Errorf("socktable: netlink sock_diag: %v; /proc/net: %w", err, ferr)
		}
		src.files = append(src.files, f)
	}
	return src, nil
}

// sockets yields the sockets of the source that opts selects.
func (src *source) sockets(ctx context.Context, opts *Options) iter.Seq2[Socket, error] {
	return func(yield func(Socket, error) bool) {
		protos := opts.Protos
		if len(protos) == 0 {
			protos = []ports.Proto{ports.ProtoTCP, ports.ProtoUDP}
		}
		states := opts.States
		if states == 0 {
			states = AllStates
		}
		for _, proto := range protos {
			if proto != ports.ProtoTCP && proto != ports.ProtoUDP {
				continue
			}
			families := []uint8{afINET, afINET6}
			if proto == ports.ProtoTCP && opts.Family == 0 && src.fd >= 0 {
				families = []uint8{0} // both, in one request
			}
			for _, family := range families {
				if opts.Family == 4 && family == afINET6 || opts.Family == 6 && family == afINET {
					continue
				}
				if err := ctx.Err(); err != nil {
					yield(Socket{}, err)
					return
				}
				var err error
				stop := false
				emit := func(s *Socket) bool {
					if !opts.match(s) {
						return true
					}
					stop = !yield(*s, nil)
					return !stop
				}
				if src.fd >= 0 {
					err = src.dump(family, proto, states, opts, emit)
				} else {
					err = src.readProcNet(family, proto, emit)
				}
				if err != nil {
					yield(Socket{}, err)
					return
				}
				if stop {
					return
				}
			}
		}
	}
}

func (src *source) readProcNet(family uint8, proto ports.Proto, fn func(*Socket) bool) error {
	for i, t := range procNetTables {
		if t.proto != proto || t.v6 != (family == afINET6) || src.files[i] == nil {
			continue
		}
		return parseProcNet(src.files[i], "/proc/net/"+t.name, proto, fn)
	}
	return nil
}

// dump asks the kernel for one family (0: TCP over both, through the
// older request) and protocol, and decodes the answer. If the kernel
// refuses the filter bytecode (old kernels lack some ops), it asks
// again without it: match filters in user space anyway. The kernel
// refuses a request before it answers any socket, so asking again
// repeats nothing.
func (src *source) dump(family uint8, proto ports.Proto, states States, opts *Options, fn func(*Socket) bool) error {
	bc := opts.bytecode()
	err := src.dumpOnce(family, proto, states, bc, fn)
	var en errnoError
	if bc != nil && errors.As(err, &en) && unix.Errno(en) == unix.EINVAL {
		err = src.dumpOnce(family, proto, states, nil, fn)
	}
	if family == 0 && errors.As(err, &en) {
		// A kernel without the older request: ask per family.
		if err = src.dump(afINET, proto, states, opts, fn); err == nil {
			err = src.dump(afINET6, proto, states, opts, fn)
		}
		return err
	}
	if errors.As(err, &en) {
		if unix.Errno(en) == unix.ENOENT {
			return nil // no such protocol module (IPv6 disabled, say)
		}
		return fmt.Errorf("socktable: sock_diag %s%s: %w", proto, map[uint8]string{afINET: "4", afINET6: "6"}[family], unix.Errno(en))
	}
	return err
}

// recvBufLen is the read size: the kernel fills at most 32 KiB of a dump
// per read, but a larger buffer costs nothing.
const recvBufLen = 64 << 10

func (src *source) dumpOnce(family uint8, proto ports.Proto, states States, bc []byte, fn func(*Socket) bool) error {
	var req []byte
	if family == 0 {
		req = appendTCPCompatRequest(make([]byte, 0, 128), 1, states, bc)
	} else {
		req = appendDiagRequest(make([]byte, 0, 128), 1, family, proto, states, bc)
	}
	var s Socket
	return src.recvDump(context.Background(), req, func(p []byte) bool {
		return !diagMsg(p, proto, &s) || fn(&s)
	})
}

// recvDump sends the dump request req and passes the payload of each
// message of the answer to fn until fn returns false; it reads the rest
// of the answer then, so that the socket stays usable, and returns nil.
// It returns ctx's error, checked between reads, leaving the answer
// half read.
func (src *source) recvDump(ctx context.Context, req []byte, fn func(payload []byte) bool) error {
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	if err := unix.Sendto(src.fd, req, 0, sa); err != nil {
		return fmt.Errorf("socktable: sock_diag request: %w", err)
	}
	// The kernel builds the next chunk of the dump while this goroutine
	// decodes the last one: a reader goroutine receives into a few
	// buffers in turn. On a 50,000-socket dump that overlaps most of the
	// decoding with the kernel's work.
	type chunk struct {
		b   []byte
		err error
	}
	const nbuf = 4
	full := make(chan chunk, nbuf)
	free := make(chan []byte, nbuf)
	for range nbuf {
		free <- make([]byte, recvBufLen)
	}
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			var b []byte
			select {
			case b = <-free:
			case <-quit:
				return
			}
			n, err := recvRetry(src.fd, b)
			if err == nil {
				b = b[:n]
			}
			select {
			case full <- chunk{b, err}:
			case <-quit:
				return
			}
			if err != nil || hasDone(b) {
				return
			}
		}
	}()
	stopped := false
	for c := range full {
		if c.err != nil {
			return fmt.Errorf("socktable: sock_diag: %w", c.err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		done, err := diagMessages(c.b, func(p []byte) bool {
			if !stopped && !fn(p) {
				stopped = true
			}
			return true // drain the dump so the socket stays usable
		})
		if err != nil || done {
			return err
		}
		free <- c.b[:cap(c.b)]
	}
	return nil
}

func recvRetry(fd int, b []byte) (int, error) {
	for {
		n, _, err := unix.Recvfrom(fd, b, 0)
		if err != unix.EINTR {
			return n, err
		}
	}
}
