package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 <= p <= 100) of sorted, which
// must be in ascending order and non-empty. It interpolates linearly
// between the two closest ranks (Hyndman & Fan type 7, the default of
// numpy and R), so percentile(x, 50) is the usual median: the middle
// value, or the mean of the two middle values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		panic("cmdbench: percentile of no values")
	}
	h := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(h))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	if lo < 0 {
		return sorted[0]
	}
	frac := h - float64(lo)
	d := float64(sorted[lo]) + frac*float64(sorted[lo+1]-sorted[lo])
	return time.Duration(math.Round(d))
}

// median returns the median of sorted; see percentile.
func median(sorted []time.Duration) time.Duration { return percentile(sorted, 50) }

// A summary holds the statistics of one command's measured runs.
type summary struct {
	Median, P10, P90, Min, Max, Mean time.Duration // wall time
	CPU                              time.Duration // median of user+sys
	MaxRSS                           int64         // median of the per-run peak RSS, bytes; 0 if unknown
	RSSBound                         bool          // MaxRSS is the runner's own peak: the command's is at most that
}

func summarize(samples []sample) summary {
	wall := make([]time.Duration, len(samples))
	cpu := make([]time.Duration, len(samples))
	rss := make([]time.Duration, len(samples)) // bytes, reusing the helpers
	var (
		total time.Duration
		floor int64
	)
	for i, s := range samples {
		wall[i], cpu[i], rss[i] = s.Wall, s.User+s.Sys, time.Duration(s.MaxRSS)
		total += s.Wall
		floor = max(floor, s.RSSFloor)
	}
	slices.Sort(wall)
	slices.Sort(cpu)
	slices.Sort(rss)
	medRSS := int64(median(rss))
	return summary{
		Median:   median(wall),
		P10:      percentile(wall, 10),
		P90:      percentile(wall, 90),
		Min:      wall[0],
		Max:      wall[len(wall)-1],
		Mean:     total / time.Duration(len(wall)),
		CPU:      median(cpu),
		MaxRSS:   medRSS,
		RSSBound: medRSS > 0 && medRSS <= floor,
	}
}
