package spa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// CommandTimeout is how long a command message's command may run before
// it is killed. fwknopd 2.6.10 has no such bound: it waits for the
// command, reading no other packet meanwhile (seen: a sleep 8 sent with
// -C delays the next packet by 8 s); ports runs it beside the server and
// bounds it (the 5 s fwknopd's code passes, and does not apply).
const CommandTimeout = 5 * time.Second

// MaxCommands is how many command messages' commands run at once; a
// packet that would start one more is refused (it is recorded against
// replay all the same).
const MaxCommands = 4

// maxCommandOutput is how much of a command's output (stdout and stderr
// together) is logged; the rest is read and dropped.
const maxCommandOutput = 1024

// DefaultSudoExe is fwknopd's SUDO_EXE default.
const DefaultSudoExe = "/usr/bin/sudo"

// ErrBusy wraps the refusal of a command message while MaxCommands run.
var ErrBusy = errors.New("spa: too many commands running")

// SplitServerCommand splits a command message's command into words as
// fwknopd 2.6.10 does (strtoargv): at ASCII blanks only, with no quotes
// or escapes, so that `touch 'a b'` is the three words touch, 'a and b'.
// The words are run without a shell, so ; | > $ and the like are
// passed on literally, as fwknopd passes them.
func SplitServerCommand(cmd string) []string {
	return strings.FieldsFunc(cmd, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r'
	})
}

// parseCommand splits a command message's text, "IP,command", as fwknop
// builds it for --server-cmd.
func parseCommand(s string) (netip.Addr, string, error) {
	ip, cmd, ok := strings.Cut(s, ",")
	a, err := netip.ParseAddr(ip)
	if !ok || err != nil || !a.Is4() {
		return netip.Addr{}, "", fmt.Errorf("%w: command message %q is not IP,command", ErrFormat, s)
	}
	if len(SplitServerCommand(cmd)) == 0 {
		return netip.Addr{}, "", fmt.Errorf("%w: command message with an empty command", ErrFormat)
	}
	return a, cmd, nil
}

// limitedBuffer keeps the first n bytes written to it and counts the rest.
type limitedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	n       int
	dropped int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := min(len(p), b.n-b.buf.Len())
	b.buf.Write(p[:keep])
	b.dropped += len(p) - keep
	return len(p), nil
}

// runCommand runs a command message's command for grant g of stanza st,
// as fwknopd does (see Stanza.EnableCmdExec), and logs how it ended.
func (s *Server) runCommand(ctx context.Context, st *Stanza, g Grant) {
	argv := append(st.sudoArgs(s.cfg.SudoExe), SplitServerCommand(g.Command)...)
	who := "as this server's user"
	if st.cmdCred != nil {
		who = "as " + st.cmdCred.String()
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	defer cancel()
	path, err := exec.LookPath(argv[0])
	if err != nil {
		s.log.Error(fmt.Sprintf("%s: server command %q (stanza on line %d): %v", g.PacketSrc.Addr(), g.Command, st.Line, err))
		return
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = []string{} // fwknopd runs it with an empty environment
	cmd.Dir = "/"
	out := &limitedBuffer{n: maxCommandOutput}
	cmd.Stdout, cmd.Stderr = out, out
	// A process the command left behind that holds its output open must
	// not hold the command's slot (MaxCommands) for ever.
	cmd.WaitDelay = time.Second
	if err := st.cmdCred.apply(cmd); err != nil {
		s.log.Error(fmt.Sprintf("%s: server command %q (stanza on line %d): %v", g.PacketSrc.Addr(), g.Command, st.Line, err))
		return
	}
	s.log.Info(fmt.Sprintf("%s: running server command %q %s (stanza on line %d, no shell)", g.PacketSrc.Addr(), strings.Join(argv, " "), who, st.Line))
	err = cmd.Run()
	status := "exited 0"
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		status = fmt.Sprintf("killed after %v", s.cfg.CommandTimeout)
	case err != nil:
		status = err.Error()
	}
	msg := fmt.Sprintf("server command %s: %s", argv[0], status)
	if out.buf.Len() > 0 {
		msg += fmt.Sprintf("; output: %q", out.buf.String())
		if out.dropped > 0 {
			msg += fmt.Sprintf(" (and %d bytes more)", out.dropped)
		}
	}
	if err != nil {
		s.log.Error(msg)
	} else {
		s.log.Info(msg)
	}
}
