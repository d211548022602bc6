// Package knock is port knocking compatible with knockd: the knock
// client ([Send]), the sequence grammar ([ParseSequence]), knockd's
// configuration file ([ParseConfig]), the per-source state machine that
// knockd runs ([Machine]), a server that runs commands on a completed
// knock ([Server], which sees knocks through AF_PACKET on Linux), and a
// [Gate] that lets a proxy accept connections only from addresses that
// knocked, without root.
//
// The single-packet authorization of fwknop is in package
// [github.com/portkit/ports/knock/spa].
//
// # Sequences
//
// A sequence is a comma-separated list of ports, each with an optional
// protocol, TCP by default, as knockd's Sequence directive:
// "7000,8000:udp,9000:tcp". The knock client takes the same items as
// separate arguments ("7000 8000:udp 9000").
//
// # Packets
//
// As knockd's knock client (0.8): a TCP knock is a non-blocking connect
// that is closed at once, so one SYN leaves; a UDP knock is one datagram
// holding a single zero byte (checked against the real client with
// tcpdump).
//
// # The state machine
//
// [Machine] follows knockd 0.8's sniff() and process_attempt():
//
//   - Only packets to a port of some sequence are considered (knockd's
//     pcap filter admits nothing else), and for TCP only those whose flags
//     match the door's TCPFlags: packets to any other port, and TCP
//     packets with other flags, are ignored and do not reset anything.
//   - A source with no attempt in progress starts one for every door whose
//     first knock the packet matches.
//   - A source with attempts in progress advances each attempt whose next
//     knock the packet matches, and invalidates each other one (a knock on
//     a port of a sequence out of order resets it). A packet that
//     invalidates an attempt does not start a new one.
//   - The timeout counts from the first knock; an expired attempt is
//     dropped when the next packet arrives, so a late knock can only start
//     a new attempt.
//   - A completed attempt runs the door's command; on the next packet the
//     source starts afresh.
//
// Unlike knockd, IPv6 knocks are handled too, and the sniffer
// ([Server.Sniff]) takes every packet arriving on the interface (not
// only those addressed to the interface's own addresses, which knockd
// checks with "dst host"; use Target to pin a door to one address). Its
// kernel filter admits the sequences' ports and protocols (past
// MaxFilterRanges ranges of ports for a protocol, a few more ports, so
// that the program stays small for any number of doors); the Machine
// checks the ports exactly, and TCP flags. When the doors change
// (SIGHUP, a one-time sequence used), the socket's filter is replaced in
// place; if the kernel refuses a filter, the sniffer takes every TCP and
// UDP packet instead, and says so.
//
// The Machine tracks at most MaxAttempts attempts: a flood of spoofed
// first knocks pushes out the oldest attempts at stage 1, not those of
// sources further on, and the Server counts and logs what was dropped.
//
// The Gate sees knocks without root, on ordinary sockets; see [Gate] for
// what that changes.
//
// # Commands
//
// Start_Command and Stop_Command are split into words as a POSIX shell
// would split them (single quotes, double quotes with backslash escapes,
// backslashes), and only then is %IP% replaced, inside each word, by the
// knocking address; the words are run directly (execve), never through
// sh -c. Shell syntax (pipes, redirections, ;, $VAR, backquotes, $(...))
// would therefore not mean what it means to knockd, so a command with
// any ([ShellSyntax]) is refused when the file is read, naming its line:
// write a script and call it, or name /bin/sh -c '...' explicitly, where
// %IP% stays one argument. Or opt in with ConfigOptions.Shell (`ports
// knockd --shell`): the commands then run through /bin/sh -c as knockd
// runs them, except that %IP% is never pasted into the script's text but
// passed as its first argument ([ShellCommand]).
package knock
