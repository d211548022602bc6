package hostports

import (
	"errors"
	"testing"

	"github.com/portkit/ports"
)

func TestInfo(t *testing.T) {
	linux := Info{Ephemeral: ports.Range{First: 32768, Last: 60999}, UnprivilegedStart: 1024}
	open := Info{Ephemeral: ports.Range{First: 49152, Last: 65535}, UnprivilegedStart: 0}
	tests := []struct {
		info        Info
		port        ports.Port
		privileged  bool
		inEphemeral bool
	}{
		{linux, 0, false, false},
		{linux, 1, true, false},
		{linux, 80, true, false},
		{linux, 1023, true, false},
		{linux, 1024, false, false},
		{linux, 32767, false, false},
		{linux, 32768, false, true},
		{linux, 60999, false, true},
		{linux, 61000, false, false},
		{open, 0, false, false},
		{open, 1, false, false},
		{open, 80, false, false},
		{open, 49151, false, false},
		{open, 49152, false, true},
		{open, 65535, false, true},
	}
	for _, tt := range tests {
		if got := tt.info.NeedsPrivilege(tt.port); got != tt.privileged {
			t.Errorf("%+v.NeedsPrivilege(%v) = %v, want %v", tt.info, tt.port, got, tt.privileged)
		}
		if got := tt.info.InEphemeral(tt.port); got != tt.inEphemeral {
			t.Errorf("%+v.InEphemeral(%v) = %v, want %v", tt.info, tt.port, got, tt.inEphemeral)
		}
	}
}

// TestRead checks that the functions agree and, where the OS is
// supported, return sane values.
func TestRead(t *testing.T) {
	info, err := Read()
	if errors.Is(err, ErrNotImplemented) {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("ErrNotImplemented does not wrap errors.ErrUnsupported")
		}
		t.Skipf("Read: %v", err)
	}
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	t.Logf("Read() = %+v", info)
	if info.Ephemeral.First == 0 || info.Ephemeral.First > info.Ephemeral.Last {
		t.Errorf("Ephemeral = %v, want a range of non-zero ports", info.Ephemeral)
	}
	if info.Source == "" {
		t.Errorf("Source is empty")
	}
	eph, err := EphemeralRange()
	if err != nil || eph != info.Ephemeral {
		t.Errorf("EphemeralRange() = %v, %v; want %v, nil", eph, err, info.Ephemeral)
	}
	start, err := UnprivilegedStart()
	if err != nil || start != info.UnprivilegedStart {
		t.Errorf("UnprivilegedStart() = %v, %v; want %v, nil", start, err, info.UnprivilegedStart)
	}
}
