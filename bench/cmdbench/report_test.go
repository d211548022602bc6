package main

import (
	"strings"
	"testing"
	"time"
)

func TestFmtDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0ns"},
		{999, "999ns"},
		{1000, "1.00µs"},
		{1234, "1.23µs"},
		{12345, "12.3µs"},
		{123456, "123µs"},
		{999_499, "999µs"},
		{999_500, "1.00ms"},
		{3_420_000, "3.42ms"},
		{42 * time.Millisecond, "42.0ms"},
		{1500 * time.Millisecond, "1.50s"},
		{123 * time.Second, "123s"},
	}
	for _, tt := range tests {
		if got := fmtDuration(tt.d); got != tt.want {
			t.Errorf("fmtDuration(%d) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestFmtRatioBytes(t *testing.T) {
	for r, want := range map[float64]string{1: "1.00x", 3.4217: "3.42x", 0.61: "0.61x", 0.1: "0.10x", 0.0042: "0.0042x", 250: "250.00x"} {
		if got := fmtRatio(r); got != want {
			t.Errorf("fmtRatio(%v) = %q, want %q", r, got, want)
		}
	}
	for n, want := range map[int64]string{512: "0.50 KiB", 3 << 20: "3.00 MiB", 3219456: "3.07 MiB", 5 << 30: "5.00 GiB"} {
		if got := fmtBytes(n); got != want {
			t.Errorf("fmtBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCPUInfoModel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 1\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n", "AMD EPYC 7B13"},
		{"processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B\n", "Raspberry Pi 4 Model B"},
		{"processor\t: 0\nBogoMIPS\t: 50.00\n", ""},
	}
	for _, tt := range tests {
		if got := cpuinfoModel([]byte(tt.in)); got != tt.want {
			t.Errorf("cpuinfoModel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	writeTable(&b, [][]string{{"command", "median"}, {"a", "1.00µs"}, {"longer-name", "12ms"}}, "lr")
	want := "" +
		"| command     | median |\n" +
		"| :---------- | -----: |\n" +
		"| a           | 1.00µs |\n" +
		"| longer-name |   12ms |\n"
	if got := b.String(); got != want {
		t.Errorf("writeTable =\n%s\nwant\n%s", got, want)
	}
}
