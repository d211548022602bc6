//go:build unix

package cli

import "syscall"

// signals are the signals kill knows by name.
var signals = []signal{
	{int(syscall.SIGTERM), "TERM"},
	{int(syscall.SIGKILL), "KILL"},
	{int(syscall.SIGHUP), "HUP"},
	{int(syscall.SIGINT), "INT"},
	{int(syscall.SIGQUIT), "QUIT"},
	{int(syscall.SIGUSR1), "USR1"},
	{int(syscall.SIGUSR2), "USR2"},
	{int(syscall.SIGSTOP), "STOP"},
	{int(syscall.SIGCONT), "CONT"},
	{int(syscall.SIGALRM), "ALRM"},
}

// numericSignalsOK allows signal numbers without a name in signals.
const numericSignalsOK = true

func checkSignal(signal) error { return nil }

func sendSignal(pid int, s signal) error {
	return syscall.Kill(pid, syscall.Signal(s.num))
}
