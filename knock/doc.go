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
// # Rules
//
// [Machine] documents the knockd rules it follows (which packets count,
// what resets an attempt, the timeout, the bound on attempts); [Server.Sniff]
// how the sniffer differs from knockd's (IPv6, the kernel filter);
// [ConfigOptions] how commands are run (as words, never through a shell
// unless asked).
package knock
