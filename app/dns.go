package app

import (
	"errors"
	"net/netip"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS is a DNS message's fields, decoded in place by
// golang.org/x/net/dns/dnsmessage (which allocates nothing for these):
// the header, the first questions and the first records of the answer,
// authority and additional sections, in that order.
type DNS struct {
	Header    dnsmessage.Header
	Questions [4]dnsmessage.Question
	NumQ      int
	Answers   [32]DNSAnswer
	NumA      int // records in Answers, of all three sections
	// Counts of the sections, as the header gives them.
	QDCount, ANCount, NSCount, ARCount uint16
}

// DNSAnswer is one answer record: Addr for A and AAAA, Target for CNAME,
// NS, PTR, MX and SRV (with Pref, or Port), nothing more for others.
type DNSAnswer struct {
	Section uint8 // 1 answer, 2 authority, 3 additional
	Name    dnsmessage.Name
	Type    dnsmessage.Type
	TTL     uint32
	Addr    netip.Addr
	Target  dnsmessage.Name
	Pref    uint16
	Port    uint16
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
	section := uint8(1)
	for m.NumA < len(m.Answers) {
		var rh dnsmessage.ResourceHeader
		var err error
		switch section {
		case 1:
			rh, err = p.AnswerHeader()
		case 2:
			rh, err = p.AuthorityHeader()
		default:
			rh, err = p.AdditionalHeader()
		}
		if err == dnsmessage.ErrSectionDone {
			if section == 3 {
				return nil
			}
			section++
			continue
		}
		if err != nil {
			return err
		}
		a := &m.Answers[m.NumA]
		a.Section, a.Name, a.Type, a.TTL = section, rh.Name, rh.Type, rh.TTL
		if !rdataFits(rh.Type, rh.Length) {
			// dnsmessage would read the fixed part past the record's
			// end (found by FuzzDNSAgainstGopacket): a record it is not.
			return errRData
		}
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
			switch section {
			case 1:
				err = p.SkipAnswer()
			case 2:
				err = p.SkipAuthority()
			default:
				err = p.SkipAdditional()
			}
			if err != nil {
				return err
			}
		}
		m.NumA++
	}
	return nil
}

var errRData = errors.New("app: record data shorter than its type's")

// rdataFits: a record's data length can hold its type's fixed part (an
// address; a name of at least the root; MX's preference, SRV's
// priority, weight and port before it).
func rdataFits(t dnsmessage.Type, n uint16) bool {
	switch t {
	case dnsmessage.TypeA:
		return n == 4
	case dnsmessage.TypeAAAA:
		return n == 16
	case dnsmessage.TypeCNAME, dnsmessage.TypeNS, dnsmessage.TypePTR:
		return n >= 1
	case dnsmessage.TypeMX:
		return n >= 3
	case dnsmessage.TypeSRV:
		return n >= 7
	}
	return true
}
