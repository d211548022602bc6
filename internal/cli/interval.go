package cli

import (
	"strconv"
	"time"

	"github.com/spf13/pflag"
)

// intervalFlag is a flag that takes an interval, as ls --watch and top
// --interval do: a Go duration ("500ms", "5s") or a number of seconds
// ("5", "0.5"), no shorter than min (positive when min is 0). It is
// parsed in get, not by pflag, so a bad value is a one-line usage error
// in the command's words.
type intervalFlag struct {
	name string
	min  time.Duration
	raw  string
}

// add defines the flag on fs with the default def.
func (f *intervalFlag) add(fs *pflag.FlagSet, def, usage string) *pflag.Flag {
	fs.StringVar(&f.raw, f.name, def, usage)
	return fs.Lookup(f.name)
}

// get parses the flag's value.
func (f *intervalFlag) get() (time.Duration, error) { return parseInterval(f.name, f.raw, f.min) }

// parseInterval parses arg as the value of the interval flag --name.
func parseInterval(name, arg string, min time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(arg)
	if err != nil {
		f, ferr := strconv.ParseFloat(arg, 64)
		if ferr != nil {
			return 0, usagef("--%s %q is not an interval such as 2s, 500ms or 5", name, arg)
		}
		d = time.Duration(f * float64(time.Second))
	}
	switch {
	case min > 0 && d < min:
		return 0, usagef("--%s %q: the interval must be at least %v", name, arg, min)
	case d <= 0:
		return 0, usagef("--%s %q: the interval must be positive", name, arg)
	}
	return d, nil
}
