package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portkit/ports"
	"github.com/portkit/ports/hostports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/registry"
)

func newInfoCmd() *cobra.Command {
	var (
		ff      formatFlags
		explain bool
		search  bool
	)
	cmd := &cobra.Command{
		Use:   "info QUERY...",
		Short: "Tell what a port, range, service or URL is",
		Long: `Tell what a port is: its registered services (the whole IANA registry is
built in), its RFC 6335 class, whether binding it needs privileges on this
machine, whether it is in this machine's ephemeral range, unauthorized use
reported to IANA, and the ports that belong with it.

QUERY is a port (80, 80/udp), a range (8000-8010), a service name (https,
mysql), a comma-separated list of those (22,80,https), a host:port, or a URL (https://example.com:2222/x: the port the
client will use, and why). With --search, QUERY is text to find in service
names and descriptions.`,
		Example: `  ports info 443
  ports info 53/udp ssh https://example.com/
  ports info --search sql
  ports info --explain 80`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("missing QUERY: a port, range, service name or URL")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := ff.get(cmd.Flags())
			if err != nil {
				return err
			}
			if search {
				return runSearch(cmd.OutOrStdout(), format, args)
			}
			return runInfo(cmd.Context(), cmd.OutOrStdout(), format, args, explain)
		},
	}
	ff.add(cmd.Flags())
	cmd.Flags().BoolVar(&explain, "explain", false, "add plain sentences on what the facts mean")
	cmd.Flags().BoolVarP(&search, "search", "s", false, "search service names and descriptions for QUERY")
	return cmd
}

// infoQuery is one QUERY resolved to the ports it is about.
type infoQuery struct {
	raw      string
	proto    ports.Proto
	ports    []ports.Port
	endpoint *render.EndpointV1
	// byName is set when the query was a service name, so that the other
	// ports of that name are not listed as "also on".
	byName bool
}

func resolveQuery(reg *registry.Registry, raw string) (infoQuery, error) {
	q := infoQuery{raw: raw}
	if strings.TrimSpace(raw) == "" {
		return q, usagef("empty QUERY: want a port, range, service name or URL")
	}
	if strings.Contains(raw, "://") || (strings.Contains(raw, ":") && !strings.Contains(raw, "/")) {
		e, err := ports.ParseEndpoint(raw, &ports.EndpointOptions{Services: reg})
		if err != nil {
			return q, usagef("%v", err)
		}
		q.ports = []ports.Port{e.Port}
		q.endpoint = &render.EndpointV1{Scheme: e.Scheme, Host: e.Host, Port: uint16(e.Port), PortFrom: e.PortFrom.String(), Why: endpointWhy(e)}
		return q, nil
	}
	spec, protoName, hasProto := strings.Cut(raw, "/")
	if hasProto {
		p, err := ports.ParseProto(protoName)
		if err != nil || p == ports.ProtoAny {
			return q, usagef("unknown protocol %q in %q: want tcp, udp, sctp or dccp", protoName, raw)
		}
		q.proto = p
	}
	if spec != "" && (spec[0] >= '0' && spec[0] <= '9') {
		r, err := ports.ParseRange(spec)
		if err != nil {
			return q, usagef("%v", err)
		}
		for p := int(r.First); p <= int(r.Last); p++ {
			q.ports = append(q.ports, ports.Port(p))
		}
		return q, nil
	}
	q.byName = true
	for rec := range reg.Name(spec) {
		if rec.HasPort && (q.proto == ports.ProtoAny || rec.Proto == q.proto) {
			for p := int(rec.Ports.First); p <= int(rec.Ports.Last); p++ {
				if !slices.Contains(q.ports, ports.Port(p)) {
					q.ports = append(q.ports, ports.Port(p))
				}
			}
		}
	}
	slices.Sort(q.ports)
	return q, nil
}

func endpointWhy(e ports.Endpoint) string {
	switch e.PortFrom {
	case ports.PortScheme:
		return fmt.Sprintf("the URL names no port, so the client uses the default port of the %s scheme, %d", e.Scheme, e.Port)
	case ports.PortDefault:
		return fmt.Sprintf("no port given, so the default %d is used", e.Port)
	}
	if e.Scheme != "" {
		if def, ok := ports.SchemePort(e.Scheme); ok && def != e.Port {
			return fmt.Sprintf("the URL gives port %d, so the client connects there instead of %s's default port %d", e.Port, e.Scheme, def)
		}
		return fmt.Sprintf("the URL gives port %d", e.Port)
	}
	return fmt.Sprintf("the endpoint gives port %d", e.Port)
}

func runInfo(ctx context.Context, w io.Writer, format render.Format, args []string, explain bool) error {
	reg := registry.Default()
	host, hostErr := hostports.Read()
	var queries []infoQuery
	for _, arg := range args {
		// A comma-separated list, as -p takes it (22,80,https); a URL
		// keeps its commas.
		items := []string{arg}
		if strings.Contains(arg, ",") && !strings.Contains(arg, "://") {
			items = strings.Split(arg, ",")
		}
		for _, raw := range items {
			if len(items) > 1 && strings.TrimSpace(raw) == "" {
				return usagef("empty item in QUERY %q: want a port, range or service name between the commas", arg)
			}
			q, err := resolveQuery(reg, raw)
			if err != nil {
				return err
			}
			queries = append(queries, q)
		}
	}
	listening := listenersFor(ctx, queries)
	out := render.NewStream(w, format, writeInfoTable)
	found := 0
	var missing []string
	for _, q := range queries {
		if len(q.ports) == 0 {
			missing = append(missing, q.raw)
			continue
		}
		infos := buildInfos(reg, q, host, hostErr, explain)
		for i := range infos {
			addListening(&infos[i], q.proto, listening)
		}
		for _, info := range infos {
			if err := out.Write(info); err != nil {
				return err
			}
		}
		found += len(infos)
	}
	if err := out.Close(); err != nil {
		return err
	}
	if len(missing) > 0 {
		return notFound(reg, missing)
	}
	return nil
}

// notFound explains queries that matched nothing, with service names that
// contain the text as suggestions.
func notFound(reg *registry.Registry, missing []string) error {
	q := missing[0]
	name, _, _ := strings.Cut(q, "/")
	var sugg []string
	for rec := range reg.Search(name, false) {
		if !slices.Contains(sugg, rec.Name) {
			sugg = append(sugg, rec.Name)
		}
		if len(sugg) == 5 {
			break
		}
	}
	msg := fmt.Sprintf("no port or service matches %q", q)
	if len(sugg) > 0 {
		msg += "; names containing it: " + strings.Join(sugg, ", ") + " (or try --search)"
	}
	return fmt.Errorf("%s", msg)
}

// buildInfos describes each port of q. In a range, runs of ports without
// an assigned service are folded into the first port's entry.
func buildInfos(reg *registry.Registry, q infoQuery, host hostports.Info, hostErr error, explain bool) []render.PortInfoV1 {
	var infos []render.PortInfoV1
	for i := 0; i < len(q.ports); i++ {
		p := q.ports[i]
		info := render.PortInfoV1{
			Query:    q.raw,
			Port:     uint16(p),
			Class:    p.Class().String(),
			ClassAka: p.Class().Alias(),
			Endpoint: q.endpoint,
			Services: []render.ServiceV1{},
		}
		if q.proto != ports.ProtoAny {
			info.Protocol = q.proto.String()
		}
		var names []string
		for rec := range reg.Port(q.proto, p) {
			info.Services = append(info.Services, serviceV1(rec))
			if rec.Unauthorized != "" && !slices.Contains(info.UnauthorizedUse, rec.Unauthorized) {
				info.UnauthorizedUse = append(info.UnauthorizedUse, rec.Unauthorized)
			}
			if rec.Name != "" && !slices.Contains(names, rec.Name) {
				names = append(names, rec.Name)
			}
		}
		if hostErr == nil {
			info.Host = &render.HostPortV1{
				NeedsPrivilege:    host.NeedsPrivilege(p),
				UnprivilegedStart: uint16(host.UnprivilegedStart),
				InEphemeral:       host.InEphemeral(p),
				EphemeralRange:    host.Ephemeral.String(),
				Source:            host.Source,
			}
		}
		seen := map[string]bool{}
		for _, n := range names {
			for _, rel := range reg.Related(n) {
				if seen[rel.Name] || slices.Contains(names, rel.Name) {
					continue
				}
				seen[rel.Name] = true
				rv := render.RelatedV1{Name: rel.Name, Reason: rel.Reason}
				for _, rp := range rel.Ports {
					rv.Ports = append(rv.Ports, uint16(rp))
				}
				for _, pr := range rel.Protos {
					rv.Protocols = append(rv.Protocols, pr.String())
				}
				info.Related = append(info.Related, rv)
			}
			if !q.byName {
				for rec := range reg.Name(n) {
					if rec.HasPort && !rec.Ports.Contains(p) && (q.proto == ports.ProtoAny || rec.Proto == q.proto) {
						a := render.AlsoPortV1{Name: rec.Name, Port: uint16(rec.Ports.First), Proto: rec.Proto.String()}
						if !slices.Contains(info.Also, a) {
							info.Also = append(info.Also, a)
						}
					}
				}
			}
		}
		if explain {
			info.Explain = explainPort(p, names, info)
		}
		// In a range, fold a run of unassigned ports into its first entry.
		if n := len(infos); n > 0 && len(names) == 0 && len(q.ports) > 1 {
			prev := &infos[n-1]
			last := max(prev.Port, prev.PortLast)
			if last+1 == info.Port && prev.Related == nil && headline(*prev) == headline(info) &&
				prev.Host != nil == (info.Host != nil) && (info.Host == nil || *prev.Host == *info.Host) {
				prev.PortLast = info.Port
				continue
			}
		}
		infos = append(infos, info)
	}
	return infos
}

// servicePorts is a record's port or range as the tables print it: "80",
// "11212-11234", or "" for a name-only record.
func servicePorts(s render.ServiceV1) string {
	switch {
	case s.Port == nil:
		return ""
	case s.PortLast == nil:
		return strconv.Itoa(int(*s.Port))
	}
	return strconv.Itoa(int(*s.Port)) + "-" + strconv.Itoa(int(*s.PortLast))
}

func serviceV1(rec *registry.Record) render.ServiceV1 {
	s := render.ServiceV1{
		Name: rec.Name, Description: rec.Description, Assignee: rec.Assignee, Contact: rec.Contact,
		Registered: rec.Registered, Modified: rec.Modified, Reference: rec.Reference,
		ServiceCode: rec.ServiceCode, UnauthorizedUse: rec.Unauthorized, Notes: rec.Notes,
	}
	if rec.HasPort {
		first, last := uint16(rec.Ports.First), uint16(rec.Ports.Last)
		s.Port = &first
		if last != first {
			s.PortLast = &last
		}
	}
	if rec.Proto != ports.ProtoAny {
		s.Protocol = rec.Proto.String()
	}
	return s
}

func explainPort(p ports.Port, names []string, info render.PortInfoV1) []string {
	var ex []string
	c := p.Class()
	switch c {
	case ports.ClassSystem:
		ex = append(ex, fmt.Sprintf("Port %d is a system (well-known) port: IANA assigns ports 0-1023 through IETF review, and a server listens on one so that clients know where to find its service.", p))
	case ports.ClassUser:
		ex = append(ex, fmt.Sprintf("Port %d is a user (registered) port: IANA records ports 1024-49151 for services on request, so that two products do not pick the same default.", p))
	default:
		ex = append(ex, fmt.Sprintf("Port %d is a dynamic (private) port: IANA never assigns ports 49152-65535; systems hand them out as ephemeral client ports and anyone may use them privately.", p))
	}
	svc := "the service"
	if len(names) > 0 {
		svc = names[0]
	}
	eph := "an ephemeral port"
	if info.Host != nil {
		eph = "an ephemeral port from " + info.Host.EphemeralRange
	}
	ex = append(ex, fmt.Sprintf("A client of %s does not pick its own port: it connects to port %d, and the kernel gives its socket %s as the source port. A connection is named by both addresses and both ports; the server's replies swap them, coming from port %d and going to the client's ephemeral port, which is how the client's stack finds the socket they belong to.", svc, p, eph, p))
	if h := info.Host; h != nil {
		if h.NeedsPrivilege {
			ex = append(ex, fmt.Sprintf("On this machine a process needs root or CAP_NET_BIND_SERVICE to listen on port %d, because it is below ip_unprivileged_port_start (%d).", p, h.UnprivilegedStart))
		} else {
			ex = append(ex, fmt.Sprintf("On this machine any process may listen on port %d.", p))
		}
		if h.InEphemeral {
			ex = append(ex, fmt.Sprintf("Port %d lies in this machine's ephemeral range (%s): the kernel may give it to an outgoing connection, so a server that listens on it can find it taken.", p, h.EphemeralRange))
		}
	}
	if len(info.UnauthorizedUse) > 0 {
		ex = append(ex, "IANA was told of unauthorized use of this port, so traffic on it is not necessarily the registered service.")
	}
	return ex
}

// writeInfoTable prints one port's facts as labelled rows. The label
// column has a fixed width so that every port's block lines up.
func writeInfoTable(tw io.Writer, info render.PortInfoV1) error {
	row := func(label, text string) { fmt.Fprintf(tw, "  %-12s %s\n", label, text) }
	port := fmt.Sprint(info.Port)
	if info.PortLast != 0 {
		port += fmt.Sprintf("-%d", info.PortLast)
	}
	if info.Protocol != "" {
		port += "/" + info.Protocol
	}
	fmt.Fprintf(tw, "%-14s %s\n", port, headline(info))
	if info.Endpoint != nil {
		row("endpoint", info.Query+": "+info.Endpoint.Why)
	}
	for _, s := range info.Services {
		line := orDash(s.Name) + " " + oneLine(s.Description)
		if s.PortLast != nil {
			line += " (" + servicePorts(s) + ")"
		}
		if s.Reference != "" {
			line += " " + s.Reference
		}
		row(orDash(s.Protocol), line)
	}
	if len(info.Services) == 0 {
		row("", "(not in the IANA registry)")
	}
	row("class", fmt.Sprintf("%s (%s, %s)", info.Class, info.ClassAka, classRange(info.Class)))
	if h := info.Host; h != nil {
		if h.NeedsPrivilege {
			row("bind", fmt.Sprintf("needs root or CAP_NET_BIND_SERVICE here (ports below %d)", h.UnprivilegedStart))
		} else {
			row("bind", "no privileges needed here")
		}
		if h.InEphemeral {
			row("ephemeral", "yes: in this machine's ephemeral range "+h.EphemeralRange)
		} else {
			row("ephemeral", "no (this machine's range is "+h.EphemeralRange+")")
		}
	}
	for i, l := range info.Listening {
		if i == 0 {
			row("listening", "here now: "+listenerText(l))
		} else {
			row("", "          "+listenerText(l))
		}
	}
	for _, u := range info.UnauthorizedUse {
		row("unauthorized", oneLine(u))
	}
	if len(info.Also) > 0 {
		var parts []string
		for _, a := range info.Also {
			parts = append(parts, fmt.Sprintf("%s %d/%s", a.Name, a.Port, a.Proto))
		}
		row("also on", strings.Join(parts, ", "))
	}
	for i, r := range info.Related {
		label := ""
		if i == 0 {
			label = "related"
		}
		row(label, fmt.Sprintf("%s %s (%s)", r.Name, joinPorts(r.Ports), r.Reason))
	}
	for _, e := range info.Explain {
		fmt.Fprintf(tw, "\n  %s\n", e)
	}
	fmt.Fprintln(tw)
	return nil
}

func headline(info render.PortInfoV1) string {
	var names []string
	for _, s := range info.Services {
		if s.Name != "" && !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		if len(info.Services) > 0 {
			return info.Services[0].Description
		}
		return "unassigned"
	}
	return strings.Join(names, ", ")
}

// oneLine joins the lines of a registry text, so that a table row stays
// one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func classRange(class string) string {
	for _, c := range []ports.Class{ports.ClassSystem, ports.ClassUser, ports.ClassDynamic} {
		if c.String() == class {
			return c.Range().String()
		}
	}
	return ""
}

func joinPorts(ps []uint16) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, p)
	}
	return b.String()
}

// runSearch lists the records whose names or descriptions contain each
// query.
func runSearch(w io.Writer, format render.Format, args []string) error {
	for _, q := range args {
		if strings.TrimSpace(q) == "" {
			return usagef("--search: empty QUERY (it would match every service)")
		}
	}
	reg := registry.Default()
	out := render.NewStream(w, format, func(tw io.Writer, s render.ServiceV1) error {
		_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", servicePorts(s), orDash(s.Protocol), s.Name, oneLine(s.Description))
		return err
	})
	out.Header("PORT\tPROTO\tSERVICE\tDESCRIPTION")
	for _, q := range args {
		for rec := range reg.Search(q, true) {
			if err := out.Write(serviceV1(rec)); err != nil {
				return err
			}
		}
	}
	n := out.Len()
	if format == render.Table && n == 0 {
		// Print nothing rather than a lone header.
		return fmt.Errorf("no service name or description contains %q", strings.Join(args, " "))
	}
	if err := out.Close(); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("no service name or description contains %q", strings.Join(args, " "))
	}
	return nil
}
