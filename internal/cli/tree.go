package cli

import (
	"io"

	"github.com/spf13/cobra"
)

// Tree returns the ports command tree, for generators of man pages and
// completions that document it from its own definitions.
func Tree() *cobra.Command { return newRoot(io.Discard, io.Discard) }
