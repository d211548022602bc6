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
// Results are cached per flow end (protocol and both endpoints), and the
// last packet directions in a small fixed cache, so a packet of a known
// flow costs a comparison and no allocation; a TCP SYN starts a new
// flow. A SYN's receiving end is a listener's or nobody's: where
// sock_diag had none, SYNs to that address and port are not asked again
// for 100 ms (connections to another host open a new end each).
//
// A miss in the index is searched for cheapest first, as the kernel
// allocates: the recent owners (up to 16 processes, each with its
// /proc/PID/fd directory held open, so a read costs no path lookup and
// never reads another process that took the pid) are read one
// descriptor at a time, lowest first, those whose socket was seen
// closing (a FIN or RST) first, since a new socket gets the lowest free
// descriptor; a client making many short connections costs about one
// readlinkat per connection. Then their whole tables; then, while
// sock_diag still has the socket, the other processes, those no walk
// has read first, newest first, stopping at the holder. A walk asks
// sock_diag again as it goes, so that a connection that closed during
// it does not cost a read of every process (on a machine with 18,000
// sockets a complete walk took 100 ms).
//
// The descriptors are read with getdents and readlinkat on the held
// directory (socktable.FDTable) rather than os.ReadDir and os.Readlink:
// no allocation and no path walk per descriptor.
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
// them all and starts again), an index of at most 262,144 inodes, at
// most 4,096 inodes that no process was found to hold and 4,096 TCP
// addresses without a listener, 64 packet directions, and 16 open
// directories of /proc (with a byte per descriptor, up to 65,536, of
// each), so a flood of
// new flows costs lookups, not memory.
//
// # Limits
//
// A socket bound to a wildcard address (0.0.0.0, ::) is taken to own
// a packet to its port whatever the packet's destination address, as
// the kernel's lookup does; a router that forwards traffic to a port it
// also listens on would name its listener.
//
// A server that starts listening within 100 ms of a SYN to its port
// that found no listener (a client retrying until it is up) is "-" at
// its end of the connections whose SYN comes in that time. A process's
// name and user are read once per pid and kept until a walk of /proc
// finds the pid gone (or a recent owner's held directory fails): a pid
// reused in between may be named as its earlier process.
//
// Under load a capture reads packets late: a connection that closed
// before its first packet was read is "-". In the tests (2,000
// connections of 5 ms on loopback, a 2-core machine under a whole -race
// suite) every connection whose first packet was attributed within
// 5 ms of its arrival was named at both ends; of all 2,000, from 34%
// (the reader up to a second late) to 98% were: the 99% the issue asks
// for holds only when the reader keeps up.
package procattr
