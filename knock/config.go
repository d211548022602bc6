package knock

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/portkit/ports/internal/cfgfile"
	"github.com/portkit/ports/wire"
)

// Defaults of knockd 0.8 for a door.
const (
	DefaultSeqTimeout = 25 * time.Second // knockd's SEQ_TIMEOUT
	DefaultCmdTimeout = 10 * time.Second // knockd's CMD_TIMEOUT
)

// Config is a knockd configuration file.
type Config struct {
	// The [options] section.
	UseSyslog bool   // UseSyslog: log through syslog (the CLI logs to standard error instead, and says so)
	LogFile   string // LogFile: append log lines to this file
	PidFile   string // PidFile: accepted and ignored (no daemon mode)
	Interface string // Interface: the interface to sniff; empty means the caller's default

	// Doors are the other sections, in file order.
	Doors []Door
}

// Door is one [name] section of a knockd configuration: a sequence and
// what to run when it is completed.
type Door struct {
	Name string
	Line int // line of the section header, for messages

	// Sequence is the knock sequence (Sequence directive), or the current
	// one-time sequence.
	Sequence Sequence

	// OneTimeSequences is the One_Time_Sequences file: each line a
	// sequence; after a successful knock the line used is disabled by
	// writing '#' over its first character, as knockd does. See
	// [LoadOneTimeSequence].
	OneTimeSequences string

	SeqTimeout time.Duration // Seq_Timeout (seconds); 0 in the struct means DefaultSeqTimeout
	CmdTimeout time.Duration // Cmd_Timeout (seconds): the delay before Stop_Command; 0 means DefaultCmdTimeout

	// TCPFlags is the TCPFlags directive: TCP knocks must have these
	// flags set and these clear; others are ignored.
	TCPFlags FlagMatch

	// Start_Command (alias Command) and Stop_Command, with %IP%; the _6
	// variants, when set, are used for IPv6 knockers. See the package
	// documentation for how they are run.
	StartCommand, StopCommand   string
	StartCommand6, StopCommand6 string

	// Shell runs the commands through /bin/sh -c, as knockd does (the
	// Shell option of ParseConfigWith: `ports knockd --shell`), with %IP%
	// passed as an argument ([ShellCommand]). Without it a command with
	// shell syntax is refused ([ShellSyntax]), and the others are split
	// into words and run directly.
	Shell bool

	// Target is the Target directive: the destination address knocks must
	// be sent to. The zero Addr means any address of the interface.
	Target netip.Addr
}

// seqTimeout returns the timeout with its default.
func (d *Door) seqTimeout() time.Duration {
	if d.SeqTimeout <= 0 {
		return DefaultSeqTimeout
	}
	return d.SeqTimeout
}

// FlagMatch is a TCPFlags directive: the flags that must be set and
// those that must be clear. The zero value matches every packet.
type FlagMatch struct {
	Set, Clear wire.TCPFlags
}

// Match reports whether flags satisfies m.
func (m FlagMatch) Match(flags wire.TCPFlags) bool {
	return flags&m.Set == m.Set && flags&m.Clear == 0
}

var flagNames = []struct {
	name string
	f    wire.TCPFlags
}{
	{"fin", wire.TCPFin}, {"syn", wire.TCPSyn}, {"rst", wire.TCPRst},
	{"psh", wire.TCPPsh}, {"ack", wire.TCPAck}, {"urg", wire.TCPUrg},
}

// String formats m as the directive: "syn,!ack".
func (m FlagMatch) String() string {
	var parts []string
	for _, fn := range flagNames {
		if m.Set&fn.f != 0 {
			parts = append(parts, fn.name)
		}
		if m.Clear&fn.f != 0 {
			parts = append(parts, "!"+fn.name)
		}
	}
	return strings.Join(parts, ",")
}

// ParseFlagMatch parses a TCPFlags value: comma-separated names among
// fin, syn, rst, psh, ack and urg, in any case, each optionally negated
// with "!".
func ParseFlagMatch(s string) (FlagMatch, error) {
	var m FlagMatch
	for item := range strings.SplitSeq(s, ",") {
		name := strings.ToLower(strings.TrimSpace(item))
		neg := strings.HasPrefix(name, "!")
		name = strings.TrimPrefix(name, "!")
		found := false
		for _, fn := range flagNames {
			if fn.name == name {
				found = true
				if neg {
					m.Clear |= fn.f
					m.Set &^= fn.f
				} else {
					m.Set |= fn.f
					m.Clear &^= fn.f
				}
			}
		}
		if !found {
			return FlagMatch{}, &SyntaxError{Input: item, Msg: "unknown TCP flag (want fin, syn, rst, psh, ack or urg, optionally with !)"}
		}
	}
	return m, nil
}

// Limits of the files LoadConfig and LoadOneTimeSequence read.
const (
	MaxConfigSize           = cfgfile.DefaultLimit // knockd.conf
	MaxOneTimeSequencesSize = cfgfile.DefaultLimit // a One_Time_Sequences file
)

// LoadConfig reads and parses a knockd configuration file, then loads
// the current sequence of each door with One_Time_Sequences.
//
// Both kinds of file must be regular files within their size limits
// (MaxConfigSize, MaxOneTimeSequencesSize); any other is refused with a
// *cfgfile.Error, which names the path, before anything is parsed.
func LoadConfig(path string) (*Config, error) {
	return LoadConfigWith(path, ConfigOptions{})
}

// ConfigOptions change how a configuration file is read.
//
// Start_Command and Stop_Command are split into words as a POSIX shell
// would split them (single quotes, double quotes with backslash escapes,
// backslashes), and only then is %IP% replaced, inside each word, by the
// knocking address; the words are run directly (execve), never through
// sh -c. Shell syntax (pipes, redirections, ;, $VAR, backquotes, $(...))
// would therefore not mean what it means to knockd, so a command with
// any ([ShellSyntax]) is refused when the file is read, naming its line:
// write a script and call it, or name /bin/sh -c '...' explicitly, where
// %IP% stays one argument. Or opt in with Shell (`ports knockd --shell`):
// the commands then run through /bin/sh -c as knockd runs them, except
// that %IP% is never pasted into the script's text but passed as its
// first argument ([ShellCommand]).
type ConfigOptions struct {
	// Shell accepts commands with shell syntax, to be run through
	// /bin/sh as knockd runs them: see Door.Shell.
	Shell bool
}

// LoadConfigWith is LoadConfig with options.
func LoadConfigWith(path string, o ConfigOptions) (*Config, error) {
	data, err := cfgfile.Read(path, MaxConfigSize)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfigWith(bytes.NewReader(data), path, o)
	if err != nil {
		return nil, err
	}
	for i := range cfg.Doors {
		d := &cfg.Doors[i]
		if d.OneTimeSequences == "" {
			continue
		}
		seq, _, err := LoadOneTimeSequence(d.OneTimeSequences)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: section [%s]: %w", path, d.Line, d.Name, err)
		}
		d.Sequence = seq
	}
	return cfg, nil
}

// ParseConfig parses a knockd configuration from r; name is the file
// name used in errors, which are *SyntaxError values naming the line.
// Keys are case-insensitive, as in knockd; a line starting with # is a
// comment. One_Time_Sequences files are not read (see LoadConfig).
//
// A command with shell syntax ([ShellSyntax]) is an error naming its
// line: knockd would run it through /bin/sh, and split into words it
// would do something else. ParseConfigWith with Shell accepts it.
func ParseConfig(r io.Reader, name string) (*Config, error) {
	return ParseConfigWith(r, name, ConfigOptions{})
}

// ParseConfigWith is ParseConfig with options.
func ParseConfigWith(r io.Reader, name string, o ConfigOptions) (*Config, error) {
	cfg := &Config{}
	checkCommand := func(s string) error { return checkCommand(s, o.Shell) }
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	lineNo := 0
	section := ""
	var door *Door
	fail := func(input, format string, args ...any) error {
		return &SyntaxError{File: name, Line: lineNo, Input: input, Msg: fmt.Sprintf(format, args...)}
	}
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' && line[len(line)-1] == ']' {
			section = strings.TrimSpace(line[1 : len(line)-1])
			if section == "" {
				return nil, fail(line, "empty section name")
			}
			door = nil
			if !strings.EqualFold(section, "options") {
				for _, d := range cfg.Doors {
					if d.Name == section {
						return nil, fail(line, "section [%s] given twice (first on line %d)", section, d.Line)
					}
				}
				cfg.Doors = append(cfg.Doors, Door{Name: section, Line: lineNo, Shell: o.Shell})
				door = &cfg.Doors[len(cfg.Doors)-1]
			}
			continue
		}
		if section == "" {
			return nil, fail(line, "directive outside a section")
		}
		key, value, hasValue := strings.Cut(line, "=")
		key = strings.ToUpper(strings.TrimSpace(key))
		value = strings.TrimSpace(value)
		if !hasValue {
			if key == "USESYSLOG" && door == nil {
				cfg.UseSyslog = true
				continue
			}
			return nil, fail(line, "want key = value")
		}
		if door == nil {
			switch key {
			case "LOGFILE":
				cfg.LogFile = value
			case "PIDFILE":
				cfg.PidFile = value
			case "INTERFACE":
				cfg.Interface = value
			case "USESYSLOG":
				cfg.UseSyslog = true
			default:
				return nil, fail(line, "unknown directive %s in [options]", key)
			}
			continue
		}
		if value == "" {
			return nil, fail(line, "empty value for %s", key)
		}
		var err error
		switch key {
		case "SEQUENCE":
			door.Sequence, err = ParseSequence(value)
		case "ONE_TIME_SEQUENCES":
			door.OneTimeSequences = value
		case "SEQ_TIMEOUT", "TIMEOUT":
			door.SeqTimeout, err = parseSeconds(value)
		case "CMD_TIMEOUT":
			door.CmdTimeout, err = parseSeconds(value)
		case "TCPFLAGS":
			door.TCPFlags, err = ParseFlagMatch(value)
		case "START_COMMAND", "COMMAND":
			door.StartCommand, err = value, checkCommand(value)
		case "STOP_COMMAND":
			door.StopCommand, err = value, checkCommand(value)
		case "START_COMMAND_6", "COMMAND_6":
			door.StartCommand6, err = value, checkCommand(value)
		case "STOP_COMMAND_6":
			door.StopCommand6, err = value, checkCommand(value)
		case "TARGET":
			door.Target, err = netip.ParseAddr(value)
			if err != nil {
				err = &SyntaxError{Input: value, Msg: "target must be an IP address"}
			}
		default:
			return nil, fail(line, "unknown directive %s in [%s]", key, door.Name)
		}
		if err != nil {
			if se, ok := errors.AsType[*SyntaxError](err); ok {
				return nil, fail(se.Input, "%s: %s", key, se.Msg)
			}
			return nil, fail(value, "%s: %v", key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, lineNo+1, err)
	}
	for i := range cfg.Doors {
		d := &cfg.Doors[i]
		if len(d.Sequence) == 0 && d.OneTimeSequences == "" {
			return nil, &SyntaxError{File: name, Line: d.Line, Msg: fmt.Sprintf("section [%s] has no Sequence or One_Time_Sequences", d.Name)}
		}
		if len(d.Sequence) > 0 && d.OneTimeSequences != "" {
			return nil, &SyntaxError{File: name, Line: d.Line, Msg: fmt.Sprintf("section [%s] has both Sequence and One_Time_Sequences", d.Name)}
		}
	}
	if len(cfg.Doors) == 0 {
		// knockd would run and open nothing, which looks like working.
		return nil, &SyntaxError{File: name, Msg: "no doors: no section besides [options], so no knock would open anything"}
	}
	return cfg, nil
}

// parseSeconds parses a whole number of seconds, 1 or more.
func parseSeconds(s string) (time.Duration, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1<<31/int(time.Second/time.Millisecond) {
		return 0, &SyntaxError{Input: s, Msg: "want a whole number of seconds, at least 1"}
	}
	return time.Duration(n) * time.Second, nil
}

func checkCommand(s string, shell bool) error {
	if _, err := SplitCommand(s); err != nil {
		return err
	}
	if syn := ShellSyntax(s); syn != "" && !shell {
		return &SyntaxError{Input: s, Msg: fmt.Sprintf("shell syntax %q: ports knockd runs a command as a list of words, not through a shell as knockd does; "+
			"give --shell to run the commands through /bin/sh (with %%IP%% passed as $1), or put the commands in a script", syn)}
	}
	return nil
}

// LoadOneTimeSequence returns the first sequence of a One_Time_Sequences
// file (lines that are empty, start with '#' or do not parse are skipped,
// as knockd does) and the byte offset of its line.
func LoadOneTimeSequence(path string) (Sequence, int64, error) {
	data, err := cfgfile.Read(path, MaxOneTimeSequencesSize)
	if err != nil {
		return nil, 0, err
	}
	off := int64(0)
	for line := range strings.SplitAfterSeq(string(data), "\n") {
		start := off
		off += int64(len(line))
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' || line[0] == '#' {
			continue
		}
		seq, err := ParseSequence(t)
		if err != nil {
			continue
		}
		return seq, start, nil
	}
	return nil, 0, fmt.Errorf("no sequences left in %s", path)
}

// useOneTimeSequence disables the first valid line of path by writing
// '#' over its first byte, as knockd does.
func useOneTimeSequence(path string) error {
	_, off, err := LoadOneTimeSequence(path)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte{'#'}, off); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
