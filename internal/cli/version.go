package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at link time (-ldflags "-X github.com/portkit/ports/internal/cli.Version=v1.2.3");
// otherwise the module version from the build info is used.
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// buildVCS is what the go command stamped from the checkout it built:
// the commit, its time, and whether the tree had changes not committed.
type buildVCS struct {
	revision, time string
	modified       string // "true", "false", or "" when not stamped
}

func readBuildVCS() buildVCS {
	var v buildVCS
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.revision = s.Value
		case "vcs.time":
			v.time = s.Value
		case "vcs.modified":
			v.modified = s.Value
		}
	}
	return v
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of ports, the commit it was built from and whether that tree was modified",
		Long: `Print the version of ports, the commit it was built from (as the go command
recorded it from the checkout), whether that checkout had uncommitted
changes, and the Go toolchain and platform.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := readBuildVCS()
			commit, modified := "unknown (built without version control information)", "unknown"
			if v.revision != "" {
				commit = v.revision
				if v.time != "" {
					commit += " (" + v.time + ")"
				}
			}
			switch v.modified {
			case "true":
				modified = "yes: built from a tree with uncommitted changes"
			case "false":
				modified = "no"
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "ports %s\ncommit:   %s\nmodified: %s\ngo:       %s %s/%s\n",
				version(), commit, modified, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
