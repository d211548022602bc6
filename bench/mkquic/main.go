// Command mkquic writes a capture of QUIC and SIP traffic for the
// decode benchmark of the application layer (bench/quic.sh): for each
// of -conns exchanges, the client's ClientHello (crypto/tls's QUIC
// client, so a real one, over two Initials when its key share makes it
// longer than one), the server's Initial with a ServerHello and a
// coalesced Handshake packet, and -short 1-RTT datagrams; every tenth
// exchange also a SIP INVITE and its 200 OK. Ethernet, IPv4, UDP 443
// and 5060.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/portkit/ports/app"
	"github.com/portkit/ports/pcapfile"
)

func main() {
	conns := flag.Int("conns", 5000, "QUIC exchanges")
	short := flag.Int("short", 4, "1-RTT datagrams each")
	out := flag.String("o", "quic.pcap", "the capture to write")
	flag.Parse()
	if err := write(*out, *conns, *short); err != nil {
		fmt.Fprintln(os.Stderr, "mkquic:", err)
		os.Exit(1)
	}
}

func write(name string, conns, short int) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapfile.NewWriter(bw, pcapfile.LinkTypeEthernet, 0, false)
	rng := rand.New(rand.NewPCG(1, 2))
	ts := int64(1_700_000_000_000_000_000)
	put := func(client uint32, cport uint16, toServer bool, sport uint16, payload []byte) error {
		ts += 10_000
		fr := frame(client, cport, toServer, sport, payload)
		return w.WritePacket(ts, fr, len(fr))
	}
	sh := serverHello()
	for i := range conns {
		client, cport := uint32(0x0a000000|i>>8&0xffff<<8|i&0xff), uint16(20000+i%40000)
		hello, err := clientHello(fmt.Sprintf("h%d.test", i))
		if err != nil {
			return err
		}
		dcid := binary.BigEndian.AppendUint64(nil, rng.Uint64())
		scid := binary.BigEndian.AppendUint32(nil, rng.Uint32())
		sscid := binary.BigEndian.AppendUint32(nil, rng.Uint32())
		chunk := (len(hello) + 1) / 2
		if len(hello) <= 1100 {
			chunk = len(hello)
		}
		for off, pn := 0, uint32(0); off < len(hello); pn++ {
			end := min(off+chunk, len(hello))
			p := app.AppendQUICCrypto(nil, uint64(off), hello[off:end])
			p = append(p, make([]byte, max(0, 1150-len(p)))...)
			pkt, err := app.AppendQUICInitial(nil, app.QUICv1, dcid, dcid, scid, pn, p, false)
			if err != nil {
				return err
			}
			if err := put(client, cport, true, 443, pkt); err != nil {
				return err
			}
			off = end
		}
		p := append(app.AppendQUICCrypto(nil, 0, sh), make([]byte, 40)...)
		pkt, err := app.AppendQUICInitial(nil, app.QUICv1, dcid, scid, sscid, 0, p, true)
		if err != nil {
			return err
		}
		hs := append([]byte{0xe0, 0, 0, 0, 1, 4}, scid...)
		hs = append(append(hs, 4), sscid...)
		hs = append(hs, 0x44, 0)
		hs = append(hs, randBytes(rng, 1024)...)
		if err := put(client, cport, false, 443, append(pkt, hs...)); err != nil {
			return err
		}
		for range short {
			d := append([]byte{0x40 | byte(rng.IntN(64))}, sscid...)
			if err := put(client, cport, rng.IntN(2) == 0, 443, append(d, randBytes(rng, 60+rng.IntN(1100))...)); err != nil {
				return err
			}
		}
		if i%10 == 0 {
			cid := fmt.Sprintf("%08x@a.test", rng.Uint32())
			inv := "INVITE sip:bob@b.test SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060\r\nFrom: <sip:alice@a.test>;tag=1\r\nTo: <sip:bob@b.test>\r\nCall-ID: " + cid + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
			ok := "SIP/2.0 200 OK\r\nCall-ID: " + cid + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
			if err := put(client, 5060, true, 5060, []byte(inv)); err != nil {
				return err
			}
			if err := put(client, 5060, false, 5060, []byte(ok)); err != nil {
				return err
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// clientHello is what crypto/tls's QUIC client writes at the Initial
// level.
func clientHello(sni string) ([]byte, error) {
	c := tls.QUICClient(&tls.QUICConfig{TLSConfig: &tls.Config{ServerName: sni, NextProtos: []string{"h3"}, MinVersion: tls.VersionTLS13}})
	c.SetTransportParameters([]byte{0x04, 0x04, 0x80, 0x10, 0x00, 0x00})
	if err := c.Start(context.Background()); err != nil {
		return nil, err
	}
	defer c.Close()
	var hello []byte
	for e := c.NextEvent(); e.Kind != tls.QUICNoEvent; e = c.NextEvent() {
		if e.Kind == tls.QUICWriteData && e.Level == tls.QUICEncryptionLevelInitial {
			hello = append(hello, e.Data...)
		}
	}
	return hello, nil
}

// serverHello chooses TLS_AES_128_GCM_SHA256 and TLS 1.3.
func serverHello() []byte {
	sh := []byte{2, 0, 0, 0, 3, 3}
	sh = append(sh, make([]byte, 32)...)
	sh = append(sh, 0, 0x13, 0x01, 0, 0, 6, 0, 43, 0, 2, 3, 4)
	sh[3] = byte(len(sh) - 4)
	return sh
}

// frame is an Ethernet frame of an IPv4 UDP datagram between the
// client (10.x) and 10.255.0.1.
func frame(client uint32, cport uint16, toServer bool, sport uint16, payload []byte) []byte {
	src, dst, sp, dp := client, uint32(0x0aff0001), cport, sport
	if !toServer {
		src, dst, sp, dp = dst, src, dp, sp
	}
	b := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0}
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip = binary.BigEndian.AppendUint32(ip, src)
	ip = binary.BigEndian.AppendUint32(ip, dst)
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	b = append(b, ip...)
	b = binary.BigEndian.AppendUint16(b, sp)
	b = binary.BigEndian.AppendUint16(b, dp)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	b = append(b, 0, 0)
	return append(b, payload...)
}
