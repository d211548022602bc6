package cli

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

// BenchmarkLs runs `ports ls` in-process, output to /dev/null as
// bench/socktable.sh's runs have it. Run it with many sockets open (go
// run ./bench/sockhold -sockets 18000) and -cpuprofile or -memprofile
// to see where each listing's time goes.
func BenchmarkLs(b *testing.B) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	for _, args := range []string{"ls -a --no-procs", "ls -a --no-procs --format jsonl", "ls -a", "ls -i -a -t --no-procs"} {
		b.Run(strings.ReplaceAll(args, " ", "_"), func(b *testing.B) {
			argv := strings.Fields(args)
			b.ReportAllocs()
			for b.Loop() {
				if code := Run(context.Background(), argv, null, io.Discard); code != ExitOK {
					b.Fatalf("ports %s: exit %d", args, code)
				}
			}
		})
	}
}
