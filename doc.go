// Package ports holds the small value types that every part of ports
// shares: transport protocols, port numbers and their RFC 6335 classes,
// port ranges and sets with nmap's -p grammar, and endpoints parsed from
// host:port strings and URLs.
//
// The package uses only the standard library and does no I/O; service
// names are resolved through a [ServiceResolver] the caller supplies
// (package registry provides one built from the IANA registry).
package ports
