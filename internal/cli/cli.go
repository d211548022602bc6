// Package cli is the `ports` command tree. It parses flags, calls the
// library packages and renders their results; the work itself belongs to
// the libraries.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portkit/ports/internal/cfgfile"
	"github.com/portkit/ports/internal/render"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and failed, or found nothing
	ExitUsage   = 2 // the command line is wrong
)

// usageError is a command-line mistake: exit 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// runError is a failure of a command that started: exit 1.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// errSilent ends a command with exit 1 after it printed its own message.
var errSilent = errors.New("")

// A bad configuration file (one that cannot be read, is not a regular
// file, is too large, or has any problem) is, for every command, a usage
// error: exit 2, as a bad flag is. The input is wrong and the command
// did not start; exit 1 stays for a command that ran and failed.
// errBadConfig ends a command so after it printed the file's problems.
var errBadConfig error = &usageError{errSilent}

// configFileError is err, the refusal of a configuration file, as the
// usage error of a bad configuration file.
func configFileError(err error) error { return &usageError{err} }

// configError reports a configuration file that could not be loaded,
// one way for every command (serve, knockd, knockd --spa): the problems
// come from cfgfile.ProblemsOf, whichever parser found them, and are
// printed one per line as FILE:LINE: MESSAGE (one line for knockd's
// parsers, which stop at the first), and the command ends with
// errBadConfig (exit 2); a file that could not be read has no problems,
// and err is the command's one-line usage error.
func configError(stderr io.Writer, err error) error {
	ps := cfgfile.ProblemsOf(err)
	if len(ps) == 0 {
		return configFileError(err)
	}
	for _, p := range ps {
		fmt.Fprintln(stderr, p.String())
	}
	return errBadConfig
}

// Run runs the ports command line args (without the program name) and
// returns the process exit code. It never calls os.Exit, so tests can run
// it in-process.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitUsage
	var re *runError
	if errors.As(err, &re) {
		code = ExitFailure
	}
	if errors.Is(err, errSilent) {
		return code
	}
	name := "ports"
	if cmd != nil && cmd != root {
		name = cmd.CommandPath()
	}
	msg := err.Error()
	// Cobra appends suggestions on further lines; keep the message one line.
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if code == ExitUsage {
		msg += fmt.Sprintf(" (see '%s --help')", name)
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, msg)
	return code
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "ports",
		Short: "Everything about TCP and UDP ports",
		Long: `ports tells what a port is, who uses it on this machine, which ports are open
on a host, what crosses the wire, and maps, proxies and guards ports.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              noArgs,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{plainFlagError(err)} })
	root.AddCommand(
		newInfoCmd(),
		newFreeCmd(),
		newLsCmd(),
		newWhoCmd(),
		newKillCmd(),
		newAuditCmd(),
		newEphemeralCmd(),
		newTopCmd(),
		newDecodeCmd(),
		newFlowsCmd(),
		newCaptureCmd(),
		newScanCmd(),
		newMapCmd(),
		newProxyCmd(),
		newServeCmd(),
		newKnockCmd(),
		newKnockdCmd(),
		newVersionCmd(),
	)
	// cobra's completion command, having no Run of its own, prints its
	// help and exits 0 for a shell it does not know; with one, cobra
	// checks its arguments and "completion tcsh" is a usage error.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
	}
	wrapRunE(root)
	return root
}

// strconvDetail is what pflag quotes from strconv after "flag: ".
var strconvDetail = regexp.MustCompile(`strconv\.Parse\w+: parsing "[^"]*": (invalid syntax|value out of range)$`)

// plainFlagError says a bad flag value without strconv's wording:
// `invalid argument "abc" for "--rate" flag: not a number`.
func plainFlagError(err error) error {
	msg := err.Error()
	m := strconvDetail.FindStringSubmatchIndex(msg)
	if m == nil {
		return err
	}
	word := "not a number"
	if msg[m[2]:m[3]] == "value out of range" {
		word = "number out of range"
	}
	return errors.New(msg[:m[0]] + word)
}

// wrapRunE marks every error a command's RunE returns as a runtime
// failure, unless it is already a usage error.
func wrapRunE(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := checkFlagValues(cmd); err != nil {
				return err
			}
			err := run(cmd, args)
			var ue *usageError
			if err == nil || errors.As(err, &ue) {
				return err
			}
			return &runError{err}
		}
	}
	for _, sub := range c.Commands() {
		wrapRunE(sub)
	}
}

// checkFlagValues refuses, for every command, a flag given an empty
// value (an empty -p would otherwise mean "no filter" or "the defaults") or
// a negative duration: neither is ever meant, and taking them silently
// does something the user did not ask for.
func checkFlagValues(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		name := "--" + f.Name
		if f.Shorthand != "" {
			name = "-" + f.Shorthand + "/--" + f.Name
		}
		switch f.Value.Type() {
		case "string":
			if strings.TrimSpace(f.Value.String()) == "" {
				err = usagef("%s: empty value", name)
			}
		case "stringSlice", "stringArray":
			if v := f.Value.String(); v == "[]" || v == `[""]` {
				err = usagef("%s: empty value", name)
			}
		case "duration":
			if d, e := time.ParseDuration(f.Value.String()); e == nil && d < 0 {
				err = usagef("%s %s: want a duration of 0 or more", name, f.Value)
			}
		}
	})
	return err
}

// noArgs rejects arguments, naming the first.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			return usagef("unknown command %q", args[0])
		}
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// formatFlags adds --format and --json to a listing command.
type formatFlags struct {
	format render.Format
	json   bool
}

func (f *formatFlags) add(fs *pflag.FlagSet) {
	fs.Var(&f.format, "format", "output format: table, json or jsonl")
	fs.BoolVar(&f.json, "json", false, "short for --format json")
}

// get returns the chosen format, or a usage error if --json contradicts
// --format.
func (f *formatFlags) get(fs *pflag.FlagSet) (render.Format, error) {
	if f.json {
		if fs.Changed("format") && f.format != render.JSON {
			return 0, usagef("--json conflicts with --format %s", f.format)
		}
		return render.JSON, nil
	}
	return f.format, nil
}
