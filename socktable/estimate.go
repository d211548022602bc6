package socktable

// Estimate returns about how many sockets a listing with opts could
// yield at most, for sizing a slice before listing: on Linux the
// kernel's counts of TCP (with TIME-WAIT) and UDP sockets in use in
// this network namespace, from /proc/thread-self/net/sockstat and sockstat6, for
// the protocols and families opts asks for. It returns 0 where it
// cannot tell (another namespace, other systems, an unreadable file);
// the count can be off either way by the sockets opened or closed
// meanwhile, and filters are not applied.
func Estimate(opts *Options) int {
	if opts == nil {
		opts = &Options{}
	}
	return estimateOS(opts)
}
