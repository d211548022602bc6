package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/pcapfile"
)

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
	)
	cmd := &cobra.Command{
		Use:   "capture -i IFACE [FILTER...]",
		Short: "Capture live packets (Linux): print them as decode does, or write pcap",
		Long: `Capture packets on an interface (-i; "any" for all, as cooked capture)
through AF_PACKET, with the filter (tcpdump's language) run by the kernel.
Packets are printed as 'ports decode' prints them, or written to a pcap
file with -w (- for standard output). Ctrl-C stops; the packets captured
and those the kernel dropped are reported on standard error. Needs root
or CAP_NET_RAW.`,
		Example: `  ports capture -i eth0 tcp port 443
  ports capture -i any -c 100 -w out.pcap udp
  ports capture -i lo -v 'port 8080'`,
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
			ctx := cmd.Context()
			h, err := openCapture(ctx, iface, filterArgs(args), snaplen, promisc)
			if err != nil {
				return err
			}
			defer h.Close()
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
				n, werr = writeCapture(ctx, h, out, count)
				if file != nil {
					if err := file.Close(); werr == nil {
						werr = err
					}
				}
			} else {
				d := newDecoder(cmd.OutOrStdout(), format, verbose, explain)
				for fr, err := range liveFrames(ctx, h) {
					if err != nil {
						werr = err
						break
					}
					if werr = d.frame(fr); werr != nil {
						break
					}
					if n++; count > 0 && n == count {
						break
					}
					if n%64 == 0 {
						d.w.Flush()
					}
				}
				if err := d.close(); werr == nil {
					werr = err
				}
			}
			h.Close()
			st, _ := h.Stats()
			fmt.Fprintf(cmd.ErrOrStderr(), "%d packets captured, %d received by the filter, %d dropped by the kernel\n", n, st.Received, st.Dropped)
			if werr != nil && !errors.Is(werr, context.Canceled) && !errors.Is(werr, net.ErrClosed) {
				return werr
			}
			return nil
		},
	}
	ff.add(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVarP(&iface, "interface", "i", "", "the interface (any: all of them)")
	fs.StringVarP(&write, "write", "w", "", "write the packets to this pcap file (- for standard output) instead of printing them")
	fs.IntVarP(&count, "count", "c", 0, "stop after this many packets")
	fs.IntVarP(&snaplen, "snaplen", "s", 0, "bytes to keep of each packet (default 262144)")
	fs.BoolVarP(&verbose, "verbose", "v", false, "print every header field, by layer")
	fs.BoolVar(&explain, "explain", false, "say which port is the client's and which the server's")
	fs.BoolVarP(&promisc, "promiscuous", "p", false, "put the interface in promiscuous mode")
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

// writeCapture writes packets to w as a pcap file until count or ctx
// ends it.
func writeCapture(ctx context.Context, h *capture.Handle, w io.Writer, count int) (int, error) {
	pw := pcapfile.NewWriter(w, h.LinkType(), uint32(h.Snaplen()), true)
	n := 0
	var werr error
	for p, err := range h.Packets(ctx) {
		if err != nil {
			werr = err
			break
		}
		if err := pw.WritePacket(p.Timestamp, p.Data, p.Length); err != nil {
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
