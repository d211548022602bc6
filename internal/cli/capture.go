package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/pcapfile"
	"github.com/portkit/ports/procattr"
	"github.com/portkit/ports/wire"
)

// liveFlush is how long a printed packet may wait in capture's buffer.
const liveFlush = 100 * time.Millisecond

func newCaptureCmd() *cobra.Command {
	var (
		ff      formatFlags
		iface   string
		write   string
		count   int
		snaplen int
		verbose bool
		explain bool
		promisc bool
		noProcs bool
		sel     procSelect
	)
	cmd := &cobra.Command{
		Use:   "capture -i IFACE [FILTER...]",
		Short: "Capture live packets (Linux): print them as decode does, or write pcap",
		Long: `Capture packets on an interface (-i; "any" for all, as cooked capture)
through AF_PACKET, with the filter (tcpdump's language) run by the kernel.
Packets are printed as 'ports decode' prints them, or written to a pcap
file with -w (- for standard output). Ctrl-C stops; the packets captured
and those the kernel dropped are reported on standard error. Needs root
or CAP_NET_RAW.

Each packet names the processes owning its two ends, sender first, as
"process NAME/PID > NAME/PID" at the end of its line ("-" for an end no
local socket owns: another host's, or forwarded traffic), and as
"process" in JSON; --no-procs leaves them out. With -w the file is
pcapng with each packet's processes in its comment (decode shows them,
Wireshark too), or pcap with --no-procs. --pid, --proc and --user
keep only the packets of those processes: the kernel filter follows the
ports of their sockets as they come and go, and each packet is checked
again against its owners.`,
		Example: `  ports capture -i eth0 tcp port 443
  ports capture -i any -c 100 -w out.pcap udp
  ports capture -i lo -v 'port 8080'
  ports capture -i any --proc nginx
  ports capture -i eth0 --pid 1234 -w app.pcapng`,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := ff.get(cmd.Flags())
			if err != nil {
				return err
			}
			if iface == "" {
				return usagef("missing -i IFACE: the interface to capture on (or any)")
			}
			if snaplen < 0 {
				return usagef("-s %d: want a snapshot length of 0 (the default, 262144) or more", snaplen)
			}
			if count < 0 {
				return usagef("-c must be positive, not %d", count)
			}
			for _, p := range sel.pids {
				if p <= 0 {
					return usagef("--pid %d: want a process id", p)
				}
			}
			if noProcs && !sel.empty() {
				return usagef("--no-procs cannot go with --pid, --proc or --user, which need the processes")
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			userFilter := filterArgs(args)
			h, err := openCapture(ctx, iface, userFilter, snaplen, promisc)
			if err != nil {
				return err
			}
			defer h.Close()
			var attr *procattr.Source
			if !noProcs {
				if attr, err = procattr.New(nil); err != nil {
					if !sel.empty() {
						return fmt.Errorf("--pid, --proc, --user: %w", err)
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "ports: processes not shown: %v\n", err)
					attr = nil
				} else {
					defer attr.Close()
				}
			}
			var selp *procSelect
			if !sel.empty() {
				selp = &sel
				e, _ := parseFilter(userFilter) // checked by openCapture
				wait, err := followProcs(ctx, h, selp, e.String(), "")
				if err != nil {
					return err
				}
				defer wait()
				defer cancel()
			}
			// The output file before the first word on standard error, as
			// tcpdump does: a bad path is the only thing said.
			var out io.Writer = cmd.OutOrStdout()
			var file *os.File
			if write != "" && write != "-" {
				if file, err = os.Create(write); err != nil {
					return fileError(write, err)
				}
				defer file.Close()
				out = file
			}
			// As tcpdump says it, in libpcap's names.
			fmt.Fprintf(cmd.ErrOrStderr(), "listening on %s, link-type %s, snapshot length %d bytes\n", iface, linkTypeText(h.LinkType()), h.Snaplen())
			n := 0
			var werr error
			if write != "" {
				n, werr = writeCapture(ctx, h, out, count, attr, selp)
				if file != nil {
					if err := file.Close(); werr == nil {
						werr = err
					}
				}
			} else {
				d := newDecoder(cmd.OutOrStdout(), format, verbose, explain)
				d.attr, d.sel, d.ctx = attr, selp, ctx
				// Lines come out in bursts of 64 packets, and at most
				// liveFlush after a packet: a quiet interface's last
				// packet is not held back until the next one.
				var mu sync.Mutex
				stopFlush := make(chan struct{})
				flushed := make(chan struct{})
				go func() {
					defer close(flushed)
					tick := time.NewTicker(liveFlush)
					defer tick.Stop()
					for {
						select {
						case <-tick.C:
							mu.Lock()
							d.w.Flush()
							mu.Unlock()
						case <-stopFlush:
							return
						}
					}
				}()
				for fr, err := range liveFrames(ctx, h) {
					if err != nil {
						werr = err
						break
					}
					mu.Lock()
					werr = d.frame(fr)
					if werr == nil && (fr.N%64 == 0 || selp != nil) {
						d.w.Flush()
					}
					mu.Unlock()
					if werr != nil {
						break
					}
					if n = d.n; count > 0 && n == count {
						break
					}
				}
				close(stopFlush)
				<-flushed
				if err := d.close(); werr == nil {
					werr = err
				}
			}
			h.Close()
			st, _ := h.Stats()
			fmt.Fprintf(cmd.ErrOrStderr(), "%d packets captured, %d received by the filter, %d dropped by the kernel\n", n, st.Received, st.Dropped)
			if attr != nil {
				as := attr.Stats()
				fmt.Fprintf(cmd.ErrOrStderr(), "%d flow ends looked up, %d with a process (%d sock_diag requests, %d descriptors probed, %d tables read, %d walks of /proc)\n", as.Flows, as.Found, as.Lookups, as.Probes, as.HotScans, as.FullScans)
			}
			if werr != nil && !errors.Is(werr, context.Canceled) && !errors.Is(werr, net.ErrClosed) {
				return werr
			}
			return nil
		},
	}
	ff.add(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVarP(&iface, "interface", "i", "", "the interface (any: all of them)")
	fs.StringVarP(&write, "write", "w", "", "write the packets to this file (- for standard output) instead of printing them: pcapng with processes, pcap with --no-procs")
	fs.IntVarP(&count, "count", "c", 0, "stop after this many packets")
	fs.IntVarP(&snaplen, "snaplen", "s", 0, "bytes to keep of each packet (default 262144)")
	fs.BoolVarP(&verbose, "verbose", "v", false, "print every header field, by layer")
	fs.BoolVar(&explain, "explain", false, "say which port is the client's and which the server's")
	fs.BoolVarP(&promisc, "promiscuous", "p", false, "put the interface in promiscuous mode")
	fs.BoolVar(&noProcs, "no-procs", false, "do not name the processes of the packets")
	fs.IntSliceVar(&sel.pids, "pid", nil, "only the packets of these processes (a list of pids)")
	fs.StringSliceVar(&sel.names, "proc", nil, "only the packets of processes with these command names")
	fs.StringSliceVar(&sel.users, "user", nil, "only the packets of these users' processes (names or uids)")
	return cmd
}

// openCapture opens a live capture, turning a bad filter into a usage
// error.
//
// Host names are looked up here, once; the capture gets the filter
// with their addresses written out (Expr.String).
func openCapture(ctx context.Context, iface, expr string, snaplen int, promisc bool) (*capture.Handle, error) {
	e, err := parseFilter(expr)
	if err != nil {
		return nil, err
	}
	h, err := capture.Open(ctx, iface, &capture.Config{Snaplen: snaplen, Filter: e.String(), Promiscuous: promisc})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// liveFrames numbers a capture's packets, for decode and flows.
func liveFrames(ctx context.Context, h *capture.Handle) iter.Seq2[*frame, error] {
	return func(yield func(*frame, error) bool) {
		var fr frame
		n := 0
		for p, err := range h.Packets(ctx) {
			if err != nil {
				yield(nil, err)
				return
			}
			n++
			fr = frame{N: n, Packet: p}
			if !yield(&fr, nil) {
				return
			}
		}
	}
}

// writeCapture writes packets to w until count or ctx ends it: as pcap
// without attribution; as pcapng with it, each packet's processes in its
// comment ("process NAME/PID > NAME/PID", as on decode's lines). With
// sel, only the packets of the selected processes.
func writeCapture(ctx context.Context, h *capture.Handle, w io.Writer, count int, attr *procattr.Source, sel *procSelect) (int, error) {
	var pw interface {
		Flush() error
	}
	var pcap *pcapfile.Writer
	var ng *pcapfile.NgWriter
	if attr == nil {
		pcap = pcapfile.NewWriter(w, h.LinkType(), uint32(h.Snaplen()), true)
		pw = pcap
	} else {
		ng = pcapfile.NewNgWriter(w, h.LinkType(), uint32(h.Snaplen()), h.Interface())
		pw = ng
	}
	n := 0
	var werr error
	var wp wire.Packet
	var comment []byte
	for p, err := range h.Packets(ctx) {
		if err != nil {
			werr = err
			break
		}
		if attr != nil {
			wp.Decode(p.LinkType, p.Data, p.Length)
			a := attr.Packet(ctx, &wp)
			if sel != nil && !sel.matchAttr(a) {
				continue
			}
			comment = appendProcComment(comment[:0], a)
			err = ng.WritePacket(p.Timestamp, p.Data, p.Length, string(comment))
		} else {
			err = pcap.WritePacket(p.Timestamp, p.Data, p.Length)
		}
		if err != nil {
			werr = err
			break
		}
		if n++; count > 0 && n == count {
			break
		}
	}
	if err := pw.Flush(); werr == nil {
		werr = err
	}
	return n, werr
}

// linkTypeText names a link type as tcpdump does: "EN10MB (Ethernet)",
// or the number alone for one libpcap has no name for.
func linkTypeText(l pcapfile.LinkType) string {
	if d := l.Description(); d != "" {
		return l.String() + " (" + d + ")"
	}
	return l.String()
}
