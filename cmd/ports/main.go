// Command ports is everything about TCP and UDP ports: what a port is,
// who holds it on this machine, which are open on a host, what crosses
// the wire, and mapping, proxying and knocking. Run "ports help".
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/portkit/ports/internal/cli"
)

func main() {
	// ports runs briefly and its heap is small; collecting less often
	// saves more time than the memory it costs (a 50,000-socket listing
	// grows to tens of MiB either way).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first SIGINT or SIGTERM asks the command to end cleanly (a
	// server lets its connections finish); after it the signals get
	// their default action back, so that a second one ends the process
	// whatever it is doing.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
