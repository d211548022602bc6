package render

// PortInfoV1 is one port's entry in `ports info --format json`.
type PortInfoV1 struct {
	Query string `json:"query"` // the query as typed
	Port  uint16 `json:"port"`  // the port described
	// PortLast, in a range query, ends a run of ports Port-PortLast that
	// share the same unassigned record; 0 otherwise.
	PortLast uint16      `json:"port_last,omitempty"`
	Protocol string      `json:"protocol,omitempty"` // the protocol asked for, if any
	Class    string      `json:"class"`              // RFC 6335: system, user or dynamic
	ClassAka string      `json:"class_alias"`        // well-known, registered or private
	Services []ServiceV1 `json:"services"`           // registry records covering the port, possibly empty
	Host     *HostPortV1 `json:"host,omitempty"`     // this machine's view, when the OS tells it
	// UnauthorizedUse holds IANA's "Unauthorized Use Reported" notes.
	UnauthorizedUse []string     `json:"unauthorized_use,omitempty"`
	Related         []RelatedV1  `json:"related,omitempty"`
	Endpoint        *EndpointV1  `json:"endpoint,omitempty"` // for URL and host:port queries
	Explain         []string     `json:"explain,omitempty"`  // with --explain
	Also            []AlsoPortV1 `json:"also_on,omitempty"`  // other ports of the same service names
	// Listening holds the sockets listening on the port on this machine
	// now, when the OS can list them.
	Listening []ListenerV1 `json:"listening,omitempty"`
}

// ServiceV1 is one registry record.
type ServiceV1 struct {
	Name            string `json:"name,omitempty"`
	Port            *uint16 `json:"port,omitempty"`      // the first port; absent for name-only records
	PortLast        *uint16 `json:"port_last,omitempty"` // the last port of a range (11212-11234), else absent
	Protocol        string `json:"protocol,omitempty"`
	Description     string `json:"description,omitempty"`
	Assignee        string `json:"assignee,omitempty"`
	Contact         string `json:"contact,omitempty"`
	Registered      string `json:"registered,omitempty"`
	Modified        string `json:"modified,omitempty"`
	Reference       string `json:"reference,omitempty"`
	ServiceCode     string `json:"service_code,omitempty"`
	UnauthorizedUse string `json:"unauthorized_use,omitempty"`
	Notes           string `json:"notes,omitempty"`
}

// HostPortV1 is what this machine says about a port.
type HostPortV1 struct {
	NeedsPrivilege    bool   `json:"needs_privilege"`
	UnprivilegedStart uint16 `json:"unprivileged_start"`
	InEphemeral       bool   `json:"in_ephemeral_range"`
	EphemeralRange    string `json:"ephemeral_range"`
	Source            string `json:"source"`
}

// RelatedV1 is a service that belongs with the port's services.
type RelatedV1 struct {
	Name      string   `json:"name"`
	Ports     []uint16 `json:"ports"`
	Protocols []string `json:"protocols"`
	Reason    string   `json:"reason"`
}

// AlsoPortV1 is another port registered under one of the port's names.
type AlsoPortV1 struct {
	Name  string `json:"name"`
	Port  uint16 `json:"port"`
	Proto string `json:"protocol"`
}

// EndpointV1 says which port a URL or host:port query uses, and why.
type EndpointV1 struct {
	Scheme   string `json:"scheme,omitempty"`
	Host     string `json:"host"`
	Port     uint16 `json:"port"`
	PortFrom string `json:"port_from"` // explicit, scheme or default
	Why      string `json:"why"`
}

// FreePortV1 is one line of `ports free --format json`.
type FreePortV1 struct {
	Port      uint16   `json:"port"`
	Protocols []string `json:"protocols"`
	Addr      string   `json:"addr"` // the address the port was checked on; "*" is both wildcards (0.0.0.0 and ::)
}
