package cli

// blocks is an append-only list kept in fixed-size blocks. A listing's
// length is unknown until its dump ends, and appending 18,000 sockets to
// one slice copied them about five times over as it grew (12 MB of a
// 17 MB listing); blocks never copy, and the sorted listing is then one
// slice of the exact length.
type blocks[T any] struct {
	b [][]T
	n int
}

const (
	blockShift = 11
	blockLen   = 1 << blockShift
)

// add appends v.
func (l *blocks[T]) add(v T) {
	if l.n>>blockShift == len(l.b) {
		l.b = append(l.b, make([]T, blockLen))
	}
	l.b[l.n>>blockShift][l.n&(blockLen-1)] = v
	l.n++
}

// at returns the i-th value, which stays where it is.
func (l *blocks[T]) at(i int) *T { return &l.b[i>>blockShift][i&(blockLen-1)] }

// len returns the number of values.
func (l *blocks[T]) len() int { return l.n }
