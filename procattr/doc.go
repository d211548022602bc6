// Package procattr says which process a packet or flow belongs to: the
// owner of the socket at each end that is on this machine (or in the
// network namespace given), with its pid, command, user and container.
//
// # Route
//
// Each new flow costs one exact sock_diag request per end
// ([socktable.Finder]: the kernel finds the socket through the hash
// tables a packet would go through, so the answer is the socket that
// gets the packet, listeners and bound UDP sockets included), then its
// inode is looked up in an index of /proc/PID/fd kept between lookups.
// On a miss the processes that owned the last sockets are read again
// first (a client making many short connections is one of them), then
// all of /proc. Results are cached per flow (protocol and both
// endpoints), never looked up per packet; a TCP SYN starts a new flow.
//
// This route needs no privilege beyond reading /proc (root to see other
// users' processes), no kernel program and no cgo. An eBPF route (a
// kprobe or socket-cookie map naming the pid at connect and accept) sees
// sockets that close before user space looks, but needs CAP_BPF, a BTF
// kernel and a loader; it was not measured here. What this route
// misses is a socket closed before its first packet was attributed:
// such a packet says "-", as does one no local socket owns (forwarded
// traffic).
//
// # Bounds
//
// A Source keeps at most Config.MaxFlows flow ends (then it forgets
// them all and starts again), an index of at most 262,144 inodes, and
// at most 4,096 inodes that no process was found to hold, so a flood of
// new flows costs lookups, not memory.
//
// # Limits
//
// A socket bound to a wildcard address (0.0.0.0, ::) is taken to own
// a packet to its port whatever the packet's destination address, as
// the kernel's lookup does; a router that forwards traffic to a port it
// also listens on would name its listener.
//
// Under load a capture reads packets late: a connection that closed
// before its first packet was read is "-". In the tests (2,000
// connections of 5 ms on loopback, a 2-core machine under a whole -race
// suite) every connection whose first packet was attributed within
// 5 ms of its arrival was named at both ends; of all 2,000, from 34%
// (the reader up to a second late) to 98% were: the 99% the issue asks
// for holds only when the reader keeps up.
package procattr
