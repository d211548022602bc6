package hostports_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/portkit/ports"
	"github.com/portkit/ports/hostports"
)

func ExampleInfo() {
	info := hostports.Info{
		Ephemeral:         ports.Range{First: 32768, Last: 60999},
		UnprivilegedStart: 1024,
	}
	for _, p := range []ports.Port{80, 8080, 40000} {
		fmt.Printf("%d: privileged %v, ephemeral %v\n", p, info.NeedsPrivilege(p), info.InEphemeral(p))
	}
	// Output:
	// 80: privileged true, ephemeral false
	// 8080: privileged false, ephemeral false
	// 40000: privileged false, ephemeral true
}

func ExampleRead() {
	info, err := hostports.Read()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("ephemeral %v, unprivileged from %v (%s)\n", info.Ephemeral, info.UnprivilegedStart, info.Source)
}

// Free finds ports that bind on both TCP and UDP on the loopback address.
func ExampleFree() {
	cfg := hostports.FreeConfig{
		Range: ports.Range{First: 8000, Last: 8999},
		Proto: []ports.Proto{ports.ProtoTCP, ports.ProtoUDP},
		Addr:  netip.MustParseAddr("127.0.0.1"),
	}
	n := 0
	for p, err := range hostports.Free(context.Background(), cfg) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(p)
		if n++; n == 3 {
			break
		}
	}
}
