package registry_test

import (
	"fmt"

	"github.com/portkit/ports"
	"github.com/portkit/ports/registry"
)

func ExampleRegistry_Port() {
	reg := registry.Default()
	for rec := range reg.Port(ports.ProtoTCP, 443) {
		fmt.Println(rec.Name, rec.Proto, rec.Ports, rec.Description)
	}
	// A port in an unassigned range finds the range.
	for rec := range reg.Port(ports.ProtoUDP, 275) {
		fmt.Printf("%q %v %s\n", rec.Name, rec.Ports, rec.Description)
	}
	// Output:
	// https tcp 443 http protocol over TLS/SSL
	// "" 272-279 Unassigned
}

func ExampleRegistry_Related() {
	for _, rel := range registry.Default().Related("netbios-ns") {
		fmt.Println(rel.Name, rel.Ports, rel.Reason)
	}
	// Output:
	// netbios-dgm [138] next to netbios-ns 137
	// netbios-ssn [139] next to netbios-ns 137
}

func ExampleRegistry_ServicePorts() {
	// The registry resolves service names for ports.ParseSet.
	s, err := ports.ParseSet("ssh,T:https,[20-23]", registry.Default())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s)
	// Output:
	// T:20-23,443,U:22,S:22
}
