package main

import (
	"slices"
	"testing"
	"time"
)

func durs(ns ...int64) []time.Duration {
	d := make([]time.Duration, len(ns))
	for i, n := range ns {
		d[i] = time.Duration(n)
	}
	return d
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{durs(7), 0, 7},
		{durs(7), 50, 7},
		{durs(7), 100, 7},
		{durs(1, 2), 50, 2}, // 1.5 rounds half away from zero
		{durs(10, 20), 50, 15},
		{durs(10, 20, 30), 50, 20},
		{durs(10, 20, 30, 40), 50, 25},
		{durs(10, 20, 30, 40), 0, 10},
		{durs(10, 20, 30, 40), 100, 40},
		// numpy.percentile([10,20,30,40], 10) == 13.0, 90 -> 37.0
		{durs(10, 20, 30, 40), 10, 13},
		{durs(10, 20, 30, 40), 90, 37},
		// 1..11: rank h = p/100*10 lands exactly on an element.
		{durs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 10, 2},
		{durs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 90, 10},
		{durs(100, 100, 100, 1000), 50, 100},
		// Out-of-range p clamps.
		{durs(10, 20), -5, 10},
		{durs(10, 20), 150, 20},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
		}
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{durs(5), 5},
		{durs(1, 3, 2), 2},
		{durs(4, 1, 3, 2), 3}, // (2+3)/2 = 2.5 rounds to 3
		{durs(40, 10, 30, 20), 25},
		{durs(9, 1, 1, 1, 1000), 1},
	}
	for _, tt := range tests {
		s := slices.Sorted(slices.Values(tt.in))
		if got := median(s); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	samples := []sample{
		{Wall: 3 * ms, User: 2 * ms, Sys: 1 * ms, MaxRSS: 3 << 20, RSSFloor: 3 << 20},
		{Wall: 1 * ms, User: 1 * ms, Sys: 0, MaxRSS: 3 << 20, RSSFloor: 3 << 20},
		{Wall: 2 * ms, User: 1 * ms, Sys: 1 * ms, MaxRSS: 5 << 20, RSSFloor: 3 << 20},
	}
	got := summarize(samples)
	want := summary{
		Median: 2 * ms, P10: 1200 * time.Microsecond, P90: 2800 * time.Microsecond,
		Min: 1 * ms, Max: 3 * ms, Mean: 2 * ms,
		CPU: 2 * ms, MaxRSS: 3 << 20, RSSBound: true,
	}
	if got != want {
		t.Errorf("summarize = %+v\nwant        %+v", got, want)
	}

	samples[1].MaxRSS = 6 << 20 // median now 5 MiB, above the floor
	if got := summarize(samples); got.MaxRSS != 5<<20 || got.RSSBound {
		t.Errorf("summarize MaxRSS, RSSBound = %v, %v; want %v, false", got.MaxRSS, got.RSSBound, 5<<20)
	}
}
