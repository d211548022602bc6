package app

import (
	"net/netip"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS is a DNS message's fields, decoded in place by
// golang.org/x/net/dns/dnsmessage (which allocates nothing for these):
// the header, the first questions and the first answers.
type DNS struct {
	Header    dnsmessage.Header
	Questions [4]dnsmessage.Question
	NumQ      int
	Answers   [16]DNSAnswer
	NumA      int
	// Counts of the sections, as the header gives them.
	QDCount, ANCount, NSCount, ARCount uint16
}

// DNSAnswer is one answer record: Addr for A and AAAA, Target for CNAME,
// NS, PTR, MX and SRV (with Pref, or Port), nothing more for others.
type DNSAnswer struct {
	Name   dnsmessage.Name
	Type   dnsmessage.Type
	TTL    uint32
	Addr   netip.Addr
	Target dnsmessage.Name
	Pref   uint16
	Port   uint16
}

// Decode reads msg (without TCP's length prefix). It stops at the
// first record it cannot read, keeping what came before, and returns
// that error.
func (m *DNS) Decode(msg []byte) error {
	*m = DNS{}
	if len(msg) >= 12 {
		m.QDCount = uint16(msg[4])<<8 | uint16(msg[5])
		m.ANCount = uint16(msg[6])<<8 | uint16(msg[7])
		m.NSCount = uint16(msg[8])<<8 | uint16(msg[9])
		m.ARCount = uint16(msg[10])<<8 | uint16(msg[11])
	}
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return err
	}
	m.Header = h
	for {
		q, err := p.Question()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return err
		}
		if m.NumQ < len(m.Questions) {
			m.Questions[m.NumQ] = q
			m.NumQ++
		}
	}
	for m.NumA < len(m.Answers) {
		rh, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			return nil
		}
		if err != nil {
			return err
		}
		a := &m.Answers[m.NumA]
		a.Name, a.Type, a.TTL = rh.Name, rh.Type, rh.TTL
		switch rh.Type {
		case dnsmessage.TypeA:
			r, err := p.AResource()
			if err != nil {
				return err
			}
			a.Addr = netip.AddrFrom4(r.A)
		case dnsmessage.TypeAAAA:
			r, err := p.AAAAResource()
			if err != nil {
				return err
			}
			a.Addr = netip.AddrFrom16(r.AAAA)
		case dnsmessage.TypeCNAME:
			r, err := p.CNAMEResource()
			if err != nil {
				return err
			}
			a.Target = r.CNAME
		case dnsmessage.TypeNS:
			r, err := p.NSResource()
			if err != nil {
				return err
			}
			a.Target = r.NS
		case dnsmessage.TypePTR:
			r, err := p.PTRResource()
			if err != nil {
				return err
			}
			a.Target = r.PTR
		case dnsmessage.TypeMX:
			r, err := p.MXResource()
			if err != nil {
				return err
			}
			a.Target, a.Pref = r.MX, r.Pref
		case dnsmessage.TypeSRV:
			r, err := p.SRVResource()
			if err != nil {
				return err
			}
			a.Target, a.Port = r.Target, r.Port
		default:
			if err := p.SkipAnswer(); err != nil {
				return err
			}
		}
		m.NumA++
	}
	return nil
}
