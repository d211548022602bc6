package systemd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/portkit/ports/mapper"
)

// listenFdsStart is the first passed descriptor (SD_LISTEN_FDS_START).
const listenFdsStart = 3

// MaxListenFDs bounds LISTEN_FDS: a larger count is refused rather than
// turned into that many descriptors.
const MaxListenFDs = 1024

// ErrListenEnv is wrapped by the errors of [ListenFromEnv] for a
// LISTEN_* variable that is malformed.
var ErrListenEnv = errors.New("malformed socket activation variables")

// A Socket is one socket the service manager passed.
type Socket struct {
	Name    string         // its FileDescriptorName (systemd's default is the unit's name)
	Network string         // "tcp" (a listening stream socket), "udp", or "" for a kind no rule can use
	Addr    netip.AddrPort // its local address, IPv4-mapped addresses unmapped
	file    *os.File
}

// Sockets are the sockets passed to this process, handed to the rules
// of a [mapper.Server] through [Sockets.ForRule].
type Sockets struct {
	mu   sync.Mutex
	list []Socket
	used []bool
}

// ListenFromEnv takes the sockets of LISTEN_FDS/LISTEN_FDNAMES when
// LISTEN_PID is this process, and unsets the three variables (the
// descriptors are marked close-on-exec, so the commands the daemon runs
// do not inherit them either). Without them it returns an empty,
// usable *Sockets.
func ListenFromEnv() (*Sockets, error) {
	pid, fds, names := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	s := &Sockets{}
	if fds == "" || pid != strconv.Itoa(os.Getpid()) {
		return s, nil
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("LISTEN_FDS=%q: not a count: %w", fds, ErrListenEnv)
	}
	if n > MaxListenFDs {
		return nil, fmt.Errorf("LISTEN_FDS=%d: more than %d sockets: %w", n, MaxListenFDs, ErrListenEnv)
	}
	var nameList []string
	if names != "" {
		nameList = strings.Split(names, ":")
		if len(nameList) != n {
			return nil, fmt.Errorf("LISTEN_FDNAMES has %d names for %d sockets: %w", len(nameList), n, ErrListenEnv)
		}
	}
	for i := range n {
		fd := listenFdsStart + i
		closeOnExec(fd)
		name := "unknown" // sd_listen_fds_with_names' name for an unnamed one
		if nameList != nil {
			name = nameList[i]
		}
		s.add(os.NewFile(uintptr(fd), name), name)
	}
	return s, nil
}

// add classifies f: a listening TCP socket, a UDP socket, or neither.
func (s *Sockets) add(f *os.File, name string) {
	sock := Socket{Name: name, file: f}
	if ln, err := net.FileListener(f); err == nil {
		if tl, ok := ln.(*net.TCPListener); ok {
			sock.Network, sock.Addr = "tcp", unmap(tl.Addr().(*net.TCPAddr).AddrPort())
		}
		ln.Close() // a duplicate: f stays open
	} else if pc, err := net.FilePacketConn(f); err == nil {
		if uc, ok := pc.(*net.UDPConn); ok {
			sock.Network, sock.Addr = "udp", unmap(uc.LocalAddr().(*net.UDPAddr).AddrPort())
		}
		pc.Close()
	}
	s.list = append(s.list, sock)
	s.used = append(s.used, false)
}

func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// List returns the sockets passed.
func (s *Sockets) List() []Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Socket(nil), s.list...)
}

// Unused returns the passed sockets no rule has taken so far: a socket
// unit naming a port no rule listens on, which a daemon should log.
func (s *Sockets) Unused() []Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Socket
	for i, u := range s.used {
		if !u {
			out = append(out, s.list[i])
		}
	}
	return out
}

// ForRule returns the passed sockets that rule r is to serve instead of
// binding: those whose FileDescriptorName is the rule's name, else those
// whose address is one the rule listens on (for a rule on ":PORT", a
// wildcard socket of that port). The socket's kind must fit the rule: a
// listening TCP socket for tcp, http and socks5 rules, a UDP socket for
// udp rules. Each call gives fresh duplicates, which the caller closes:
// the passed descriptors stay open, so a rule restarted by a reload gets
// them again. It is [mapper.Config.Sockets].
func (s *Sockets) ForRule(r mapper.Rule) ([]*net.TCPListener, []*net.UDPConn, error) {
	if s == nil {
		return nil, nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	network := "tcp"
	if r.Type == mapper.UDP {
		network = "udp"
	}
	match := s.match(r, network)
	var lns []*net.TCPListener
	var pcs []*net.UDPConn
	fail := func(err error) ([]*net.TCPListener, []*net.UDPConn, error) {
		for _, l := range lns {
			l.Close()
		}
		for _, p := range pcs {
			p.Close()
		}
		return nil, nil, err
	}
	for _, i := range match {
		sock := s.list[i]
		if network == "tcp" {
			ln, err := net.FileListener(sock.file)
			if err != nil {
				return fail(fmt.Errorf("passed socket %s (%s): %w", sock.Name, sock.Addr, err))
			}
			lns = append(lns, ln.(*net.TCPListener))
		} else {
			pc, err := net.FilePacketConn(sock.file)
			if err != nil {
				return fail(fmt.Errorf("passed socket %s (%s): %w", sock.Name, sock.Addr, err))
			}
			pcs = append(pcs, pc.(*net.UDPConn))
		}
	}
	for _, i := range match {
		s.used[i] = true
	}
	return lns, pcs, nil
}

// match gives the indexes of the sockets for r: by name first, else by
// address.
func (s *Sockets) match(r mapper.Rule, network string) []int {
	var byName, byAddr []int
	host, port, err := net.SplitHostPort(r.Listen)
	if err != nil {
		return nil
	}
	var addrs []netip.AddrPort
	if host != "" {
		addrs, _ = mapper.ListenAddrs(r.Listen) // an interface that is gone matches nothing
	}
	for i, sock := range s.list {
		if sock.Network != network {
			continue
		}
		if sock.Name == r.Name {
			byName = append(byName, i)
			continue
		}
		if strconv.Itoa(int(sock.Addr.Port())) != port || sock.Addr.Port() == 0 {
			continue
		}
		if host == "" {
			if sock.Addr.Addr().IsUnspecified() {
				byAddr = append(byAddr, i)
			}
			continue
		}
		for _, a := range addrs {
			if unmap(a) == sock.Addr {
				byAddr = append(byAddr, i)
				break
			}
		}
	}
	if len(byName) > 0 {
		return byName
	}
	return byAddr
}
