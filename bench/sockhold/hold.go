package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"
)

// dialers is how many connections one worker has in progress at a time.
const dialers = 32

// holding is a set of established loopback connections, both ends.
type holding struct {
	conns []*net.TCPConn
}

// Sockets returns the number of sockets held: two per connection.
func (h *holding) Sockets() int { return len(h.conns) }

// Close closes every socket. Each was set to linger 0, so it is reset
// rather than left in TIME_WAIT.
func (h *holding) Close() {
	for _, c := range h.conns {
		c.Close()
	}
	runtime.KeepAlive(h.conns)
	h.conns = nil
}

// hold opens a listener for each plan, on its loopback address and a port
// the kernel picks, makes that many connections to it, accepts them, and
// closes the listener, so that only the established sockets remain. Both
// ends of each connection have keep-alives off, so they stay idle, and
// linger 0, so they leave no TIME_WAIT behind. hold dials nothing but the
// address each listener was bound to, which must be a loopback address.
func hold(ctx context.Context, plans []listenerPlan) (_ *holding, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		mu               sync.Mutex
		clients, servers []*net.TCPConn
	)
	keep := func(list *[]*net.TCPConn, c net.Conn) {
		tc := c.(*net.TCPConn)
		tc.SetLinger(0)
		mu.Lock()
		*list = append(*list, tc)
		mu.Unlock()
	}
	defer func() {
		if err != nil {
			(&holding{conns: append(clients, servers...)}).Close()
		}
	}()

	lc := net.ListenConfig{KeepAlive: -1}
	var (
		lns     []net.Listener
		targets []netip.AddrPort
	)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for _, p := range plans {
		if !p.Addr.IsLoopback() {
			return nil, fmt.Errorf("%v is not a loopback address", p.Addr)
		}
		ln, err := lc.Listen(ctx, "tcp", netip.AddrPortFrom(p.Addr, 0).String())
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ap := addrPort(ln.Addr())
		if !ap.Addr().IsLoopback() {
			return nil, fmt.Errorf("listener is on %v, not on loopback", ap)
		}
		targets = append(targets, ap)
	}

	var wg sync.WaitGroup
	// Accept each listener's connections.
	for i, ln := range lns {
		wg.Go(func() {
			for range plans[i].Conns {
				c, err := ln.Accept()
				if err != nil {
					cancel(fmt.Errorf("accepting on %v: %w", targets[i], err))
					return
				}
				keep(&servers, c)
			}
		})
	}
	// Dial them, round-robin over the listeners, dialers at a time.
	jobs := make(chan netip.AddrPort)
	d := net.Dialer{KeepAlive: -1, Timeout: 30 * time.Second}
	for range dialers {
		wg.Go(func() {
			for ap := range jobs {
				c, err := d.DialContext(ctx, "tcp", ap.String())
				if err != nil {
					cancel(fmt.Errorf("connecting to %v: %w", ap, err))
					continue // drain jobs
				}
				keep(&clients, c)
			}
		})
	}
	left := make([]int, len(plans))
	total := 0
	for i, p := range plans {
		left[i] = p.Conns
		total += p.Conns
	}
	for sent := 0; sent < total && ctx.Err() == nil; {
		for i := range left {
			if left[i] > 0 {
				select {
				case jobs <- targets[i]:
				case <-ctx.Done():
				}
				left[i]--
				sent++
			}
		}
	}
	close(jobs)
	// A failed dial leaves its accept waiting: closing the listeners on
	// cancellation unblocks it.
	stop := context.AfterFunc(ctx, func() {
		for _, ln := range lns {
			ln.Close()
		}
	})
	wg.Wait()
	stop()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	// Something else on this machine (a port scan) may have connected to a
	// listener, and taken the place of one of ours in the count.
	ours := make(map[netip.AddrPort]bool, len(clients))
	for _, c := range clients {
		ours[addrPort(c.LocalAddr())] = true
	}
	for _, c := range servers {
		if ap := addrPort(c.RemoteAddr()); !ours[ap] {
			return nil, fmt.Errorf("accepted a connection from %v, which is not one of ours: something else connected to a listener; try again", ap)
		}
	}
	if len(clients) != total || len(servers) != total {
		return nil, fmt.Errorf("have %d client and %d server sockets, want %d of each", len(clients), len(servers), total)
	}
	return &holding{conns: append(clients, servers...)}, nil
}

// addrPort returns a TCP address as a netip.AddrPort, IPv4 unmapped.
func addrPort(a net.Addr) netip.AddrPort {
	ap := a.(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
