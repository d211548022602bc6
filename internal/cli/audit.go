package cli

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portkit/ports/exposure"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/nfteval"
	"github.com/portkit/ports/socktable"
)

func newAuditCmd() *cobra.Command {
	var (
		ff      formatFlags
		fromArg []string
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Report which listening ports the outside can reach",
		Long: `Report, for every listening TCP and bound UDP socket of this machine, where
it listens (loopback only, one interface's address, or every interface),
whether each interface faces a default route (external) or not (internal),
what the nftables ruleset does with a new connection arriving on it, who
holds the socket (process, user, container, root), and flags: ports IANA
reports unauthorized use of, and ports trojans are known to listen on.

The firewall verdict comes from the nftables ruleset read over netlink
(iptables-nft rules included): accepted, dropped (or rejected), or "not
evaluated" naming the rule when it is beyond the evaluator. It is never
a guess: without --from, a rule on the client's address is not
evaluated. --from ADDR evaluates for a client at ADDR: on the interface
whose network holds it, or, if none does, on the external interfaces.

The last line counts the ports exposed to the outside. The exit status is
1 when a flagged port is exposed. Needs CAP_NET_ADMIN to read the ruleset,
and root to see every socket's process.`,
		Example: `  sudo ports audit
  sudo ports audit --from 203.0.113.7 --format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := ff.get(cmd.Flags())
			if err != nil {
				return err
			}
			var from []netip.Addr
			for _, f := range fromArg {
				a, err := netip.ParseAddr(f)
				if err != nil {
					return usagef("--from %q is not an IP address", f)
				}
				from = append(from, a.Unmap())
			}
			socks, err := socktable.Append(cmd.Context(), nil, &socktable.Options{
				States: socktable.StatesOf(socktable.StateListen, socktable.StateClose), Processes: true,
			})
			if err != nil {
				return err
			}
			network, err := exposure.ReadNetwork()
			if err != nil {
				return err
			}
			rs, err := nfteval.Load()
			if err != nil {
				return err
			}
			es := exposure.Audit(socks, &exposure.Config{Network: network, Firewall: rs, From: from})
			slices.SortStableFunc(es, func(a, b exposure.Entry) int {
				if c := int(a.Socket.Proto) - int(b.Socket.Proto); c != 0 {
					return c
				}
				if c := int(a.Socket.Local.Port()) - int(b.Socket.Local.Port()); c != 0 {
					return c
				}
				return a.Socket.Local.Addr().Compare(b.Socket.Local.Addr())
			})
			out := auditV1(es)
			if err := writeAudit(cmd, format, out); err != nil {
				return err
			}
			if out.Summary.Flagged > 0 {
				return errSilent
			}
			return nil
		},
	}
	ff.add(cmd.Flags())
	cmd.Flags().StringArrayVar(&fromArg, "from", nil, "evaluate the firewall for a client at this address (repeatable)")
	return cmd
}

func auditV1(es []exposure.Entry) render.AuditV1 {
	var out render.AuditV1
	out.Ports = []render.AuditPortV1{}
	for _, e := range es {
		p := render.AuditPortV1{
			Proto: e.Socket.Proto.String(), Local: render.AddrPortOf(e.Socket.Local), Listens: e.Scope.String(),
			Interfaces: append([]string{}, e.Interfaces...), Reaches: []render.AuditReachV1{}, Exposed: e.Exposed, MaybeExposed: e.MaybeExposed,
			Processes: processesV1(e.Socket.Procs), ProcsHidden: e.Socket.ProcsHidden, UID: e.Socket.UID, Root: e.Root,
			Flags: []render.AuditFlagV1{},
		}
		for _, r := range e.Reaches {
			x := render.AuditReachV1{
				Interface: r.Interface, External: r.External, Addr: r.Addr.String(),
				Verdict: r.Verdict.Verdict.String(), Reject: r.Verdict.Reject, Reason: r.Verdict.Reason,
			}
			if r.From.IsValid() {
				x.From = r.From.String()
			}
			if r.Verdict.Rule != (nfteval.Rule{}) {
				x.Rule = r.Verdict.Rule.String()
			}
			p.Reaches = append(p.Reaches, x)
		}
		for _, f := range e.Flags {
			p.Flags = append(p.Flags, render.AuditFlagV1{Kind: f.Kind.String(), Note: f.Note, Source: f.Source})
		}
		out.Ports = append(out.Ports, p)
	}
	s := exposure.Summarize(es)
	out.Summary = render.AuditSummaryV1{Listening: s.Listening, Exposed: s.Exposed, MaybeExposed: s.MaybeExposed, Flagged: s.Flagged}
	return out
}

func writeAudit(cmd *cobra.Command, format render.Format, a render.AuditV1) error {
	w := cmd.OutOrStdout()
	switch format {
	case render.JSON:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(a)
	case render.JSONL:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, p := range a.Ports {
			if err := enc.Encode(p); err != nil {
				return err
			}
		}
		return enc.Encode(struct {
			Record string `json:"record"`
			render.AuditSummaryV1
		}{"summary", a.Summary})
	}
	tw := render.NewAligner(w)
	fmt.Fprintln(tw, "PROTO\tLOCAL\tLISTENS\tREACH\tPROCESS\tUSER\tROOT\tFLAGS")
	notEval := map[string]string{}
	var notEvalOrder []string
	for _, p := range a.Ports {
		var reach []string
		for i := 0; i < len(p.Reaches); {
			// One cell per interface when its addresses agree.
			r := p.Reaches[i]
			j := i
			same := true
			for ; j < len(p.Reaches) && p.Reaches[j].Interface == r.Interface; j++ {
				same = same && reachWord(p.Reaches[j]) == reachWord(r)
			}
			side := "int"
			if r.External {
				side = "ext"
			}
			for k := i; k < j; k++ {
				x := p.Reaches[k]
				if x.Verdict == nfteval.NotEvaluated.String() {
					if _, ok := notEval[x.Rule]; !ok {
						notEvalOrder = append(notEvalOrder, x.Rule)
					}
					notEval[x.Rule] = x.Reason
				}
				if !same {
					reach = append(reach, fmt.Sprintf("%s(%s) %s: %s", x.Interface, side, x.Addr, reachWord(x)))
				}
			}
			if same {
				reach = append(reach, fmt.Sprintf("%s(%s): %s", r.Interface, side, reachWord(r)))
			}
			i = j
		}
		reachCell := "-"
		if len(reach) > 0 {
			reachCell = strings.Join(reach, ", ")
		}
		user := "-"
		if len(p.Processes) > 0 {
			user = p.Processes[0].User
			if c := p.Processes[0].Container; c != "" {
				user += " (" + c + ")"
			}
		}
		root := "no"
		if p.Root {
			root = "yes"
		}
		var fl []string
		for _, f := range p.Flags {
			fl = append(fl, f.Kind+": "+f.Note)
		}
		flags := "-"
		if len(fl) > 0 {
			flags = strings.Join(fl, "; ")
		}
		listens := p.Listens
		if p.Listens == "interface" {
			listens = p.Interfaces[0]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Proto, p.Local, listens, reachCell,
			render.ProcessesCell(p.Processes, p.ProcsHidden), user, root, flags)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, rule := range notEvalOrder {
		fmt.Fprintf(w, "not evaluated: %s: %s\n", rule, notEval[rule])
	}
	s := a.Summary
	_, err := fmt.Fprintf(w, "%d listening, %d exposed to the outside, %d maybe exposed (a rule not evaluated), %d flagged and exposed\n",
		s.Listening, s.Exposed, s.MaybeExposed, s.Flagged)
	return err
}

// reachWord is a verdict as the table shows it.
func reachWord(r render.AuditReachV1) string {
	if r.Reject {
		return "rejected"
	}
	return r.Verdict
}
