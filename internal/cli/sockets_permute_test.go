package cli

import (
	"math/rand/v2"
	"testing"

	"github.com/portkit/ports/socktable"
)

// TestPermuteMatchesCopy checks that permute's in-place reordering
// gives what copying ss[order[i]] into a new slice gives, for random
// permutations with fixed points, long cycles and the empty case.
func TestPermuteMatchesCopy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 17, 1000} {
		for trial := range 20 {
			ss := make([]socktable.Socket, n)
			for i := range ss {
				ss[i].Inode = uint64(i)
			}
			order := make([]int32, n)
			for i, p := range r.Perm(n) {
				order[i] = int32(p)
			}
			if trial == 0 {
				for i := range order {
					order[i] = int32(i) // identity
				}
			}
			want := make([]uint64, n)
			for i, j := range order {
				want[i] = ss[j].Inode
			}
			permute(ss, order)
			for i := range ss {
				if ss[i].Inode != want[i] {
					t.Fatalf("n=%d trial %d: ss[%d].Inode = %d, want %d", n, trial, i, ss[i].Inode, want[i])
				}
			}
		}
	}
}
