package spa_test

import (
	"fmt"
	"strings"

	"github.com/portkit/ports/knock/spa"
)

func Example() {
	keys, err := spa.ParseKeyFile(strings.NewReader(`KEY_BASE64: YAKrjzZ4kH6+Zoih2C1ACXUBiRTXHqTn8gBnyGXLWbA=
HMAC_KEY_BASE64: MPqk5krXMhXj5f/+HbycQENIvAjNIKUUZa++e1kUSCA7heSJsqaXtQCFuu0jT6IL19cKdsiiOwXbeUuQqEIhQw==
`), "keys", "")
	if err != nil {
		panic(err)
	}
	pkt, err := spa.Encode(&spa.Message{User: "alice", Type: spa.AccessMsg, Access: "198.51.100.7,tcp/22"}, keys, nil)
	if err != nil {
		panic(err)
	}
	m, err := spa.Decode(pkt, keys)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.User, m.Version, m.Access)

	// One character changed, and the HMAC rejects it before any decryption.
	bad := []byte(pkt)
	if bad[len(bad)-1] == 'A' {
		bad[len(bad)-1] = 'B'
	} else {
		bad[len(bad)-1] = 'A'
	}
	_, err = spa.Decode(string(bad), keys)
	fmt.Println(err)
	// Output:
	// alice 3.0.0 198.51.100.7,tcp/22
	// spa: bad HMAC
}
