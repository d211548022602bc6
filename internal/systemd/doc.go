// Package systemd speaks the parts of systemd's service protocol that a
// daemon needs, without libsystemd: the notify protocol (sd_notify:
// READY=1, RELOADING=1, STOPPING=1, STATUS=, WATCHDOG=1 sent as unix
// datagrams to $NOTIFY_SOCKET), socket activation (sockets passed from
// fd 3 on, named by $LISTEN_FDNAMES) and the journal's stream protocol
// (a <N> syslog priority before each line when $JOURNAL_STREAM is
// standard error).
//
// Everything is a no-op when its variable is not set, so a daemon calls
// it unconditionally and behaves the same outside systemd.
package systemd
