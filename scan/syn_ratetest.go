package scan

import "sync/atomic"

// abMinAnswers is how many answers the earlier round must have had for
// a rate test to be meaningful.
const abMinAnswers = 60

// rateTest is the A/B test that tells random loss from a host's rate
// limit (see synScanner): in a round under test, the probes at positions
// from split on go at a quarter of the rate. The two halves are random
// samples of the same ports, so under random loss they answer in the
// same proportion; a host that answers the slow half half again as often
// limits its rate.
type rateTest struct {
	split        atomic.Uint64 // positions >= split are the slow half; 0: no test
	fast, slow   atomic.Int64  // answers (receivers)
	fastN, slowN int64         // probes sent (sender only)
}

// begin starts a test of a round whose slow half starts at split.
func (t *rateTest) begin(split uint64) {
	t.fast.Store(0)
	t.slow.Store(0)
	t.fastN, t.slowN = 0, 0
	t.split.Store(split)
}

// sent counts a probe of the round under test, of the fast half or not.
func (t *rateTest) sent(fast bool) {
	if fast {
		t.fastN++
	} else {
		t.slowN++
	}
}

// answered counts a verified answer to the probe at position pos, if a
// test is running.
func (t *rateTest) answered(pos uint64) {
	if split := t.split.Load(); split > 0 {
		if pos < split {
			t.fast.Add(1)
		} else {
			t.slow.Add(1)
		}
	}
}

// limited reports whether the round's answers show a rate limit: the
// slow half answered half again as often as the fast one, with at least
// 20 answers.
func (t *rateTest) limited() bool {
	fastN, slowN := max(t.fastN, 1), max(t.slowN, 1)
	fast, slow := float64(t.fast.Load())/float64(fastN), float64(t.slow.Load())/float64(slowN)
	return t.slow.Load() >= 20 && slow >= 1.5*fast
}

// end stops counting answers.
func (t *rateTest) end() { t.split.Store(0) }
