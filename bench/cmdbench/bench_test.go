package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestSchedule(t *testing.T) {
	var b strings.Builder
	for _, s := range schedule(3, 1, 3) {
		w := ""
		if s.Warmup {
			w = "w"
		}
		fmt.Fprintf(&b, "%d%s:%d ", s.Iter, w, s.Cmd)
	}
	// Every iteration runs each command once, starting one further along.
	want := "0w:0 0w:1 0w:2 1:1 1:2 1:0 2:2 2:0 2:1 3:0 3:1 3:2 "
	if got := b.String(); got != want {
		t.Errorf("schedule(3, 1, 3) =\n%s\nwant\n%s", got, want)
	}
	if got := len(schedule(2, 0, 5)); got != 10 {
		t.Errorf("len(schedule(2, 0, 5)) = %d, want 10", got)
	}
	for _, s := range schedule(1, 2, 2) {
		if s.Cmd != 0 || s.Warmup != (s.Iter < 2) {
			t.Errorf("schedule(1, 2, 2) has %+v", s)
		}
	}
}
