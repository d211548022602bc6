package ports_test

import (
	"testing"

	"github.com/portkit/ports"
)

func TestServerPort(t *testing.T) {
	listening := func(p ports.Port) bool { return p == 8080 }
	registered := func(p ports.Port) bool { return p == 443 || p == 8080 }
	for _, tt := range []struct {
		a, b     ports.Port
		evidence []func(ports.Port) bool
		want     ports.Port
	}{
		{51000, 443, nil, 443},
		{443, 51000, nil, 443},
		{3000, 2000, nil, 2000},
		{60000, 8080, []func(ports.Port) bool{listening}, 8080},
		{443, 8080, []func(ports.Port) bool{listening, registered}, 8080},       // the first evidence that tells decides
		{443, 9000, []func(ports.Port) bool{listening, registered}, 443},        // listening says nothing: registered does
		{9000, 9001, []func(ports.Port) bool{nil, listening, registered}, 9000}, // none tells: the lower
	} {
		if got := ports.ServerPort(tt.a, tt.b, tt.evidence...); got != tt.want {
			t.Errorf("ServerPort(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
