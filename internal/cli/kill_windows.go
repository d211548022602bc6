package cli

import "os"

// signals are the signals kill knows by name. Windows has no signals
// between processes: only KILL (TerminateProcess) can be sent; the others
// are known so that the error says so rather than "not a signal".
var signals = []signal{{15, "TERM"}, {9, "KILL"}, {1, "HUP"}, {2, "INT"}}

// numericSignalsOK allows signal numbers without a name in signals.
const numericSignalsOK = false

func checkSignal(s signal) error {
	if s.name != "KILL" {
		return usagef("--signal %s: only --signal KILL is supported on windows", s.name)
	}
	return nil
}

func sendSignal(pid int, _ signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	defer p.Release()
	return p.Kill()
}
