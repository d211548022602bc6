// Command genman writes the man pages of ports from its command
// definitions, so that they never drift from --help: ports(1) and one
// page per command (ports-scan(1), ...), into the directory given.
//
//	go run ./packaging/genman OUTDIR
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/portkit/ports/internal/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genman OUTDIR")
		os.Exit(2)
	}
	root := cli.Tree()
	root.DisableAutoGenTag = true // no date: the pages build reproducibly
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			c.Hidden = true
		}
	}
	walk(root)
	hdr := &doc.GenManHeader{Title: "PORTS", Section: "1", Source: "ports", Manual: "ports manual"}
	if err := os.MkdirAll(os.Args[1], 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := doc.GenManTree(root, hdr, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "genman:", err)
		os.Exit(1)
	}
}

// walk sets DisableAutoGenTag everywhere: cobra reads it per command.
func walk(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, s := range c.Commands() {
		walk(s)
	}
}
