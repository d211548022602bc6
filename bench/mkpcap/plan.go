package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/portkit/ports/pcapfile"
)

// captureStart is the wall-clock time of the capture's first instant.
var captureStart = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

// app is the application protocol a server speaks.
type app uint8

const (
	appTLS app = iota
	appHTTP
	appSSH
	appPostgres
	appMySQL
	appRedis
)

// service is a port servers listen on, and how common its connections
// are.
type service struct {
	port   uint16
	app    app
	weight int
	near   bool // in the same data centre as the clients: sub-millisecond RTT
}

var services = []service{
	{443, appTLS, 40, false},
	{80, appHTTP, 10, false},
	{8080, appHTTP, 6, true},
	{22, appSSH, 4, false},
	{5432, appPostgres, 15, true},
	{3306, appMySQL, 10, true},
	{6379, appRedis, 15, true},
}

type host struct {
	ip   [4]byte
	mac  [6]byte
	ttl  uint8  // as seen at the tap
	port uint16 // clients: the next ephemeral port; servers: the service port
	svc  int    // servers: index in services
}

// routerMAC is the gateway's address: servers' packets come from it and
// clients' packets go to it.
var routerMAC = [6]byte{0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x01}

// Flow kinds.
const (
	kindNormal     = iota
	kindRefused    // SYN, RST-ACK
	kindUnanswered // SYN and two retransmissions
)

// plan is one connection, before it is simulated.
type plan struct {
	start          int64 // µs after captureStart
	budget         int32 // packets
	kind           uint8
	client, server int32
	cport          uint16
	scale          float32 // think times are multiplied by it, to fit the duration
}

type summary struct {
	packets, flows, refused, unanswered int
	wireBytes                           int64
	span                                int64 // µs from the first packet to the last
}

// world is the hosts and the planned connections.
type world struct {
	cfg     *config
	clients []host
	servers []host
	plans   []plan
}

func newWorld(cfg *config) (*world, error) {
	r := rand.New(rand.NewPCG(cfg.seed, 0x6d6b70636170))
	w := &world{cfg: cfg}

	seen := make(map[[4]byte]bool)
	for range cfg.clients {
		var ip [4]byte
		for {
			ip = [4]byte{10, byte(16 + r.IntN(200)), byte(r.IntN(256)), byte(1 + r.IntN(254))}
			if !seen[ip] {
				break
			}
		}
		seen[ip] = true
		w.clients = append(w.clients, host{
			ip:   ip,
			mac:  [6]byte{0x02, 0x42, ip[0], ip[1], ip[2], ip[3]},
			ttl:  64,
			port: uint16(32768 + r.IntN(20000)),
		})
	}
	total := 0
	for _, s := range services {
		total += s.weight
	}
	for i := range cfg.servers {
		svc := i % len(services) // the first servers cover every service
		if i >= len(services) {
			svc = pickWeighted(r, total)
		}
		ttl := uint8(64 - 1 - r.IntN(3))
		if r.IntN(8) == 0 {
			ttl = uint8(128 - 1 - r.IntN(3))
		}
		w.servers = append(w.servers, host{
			ip:   [4]byte{172, 16, byte(1 + i/250), byte(1 + i%250)},
			ttl:  ttl,
			port: services[svc].port,
			svc:  svc,
		})
	}
	bySvc := make([][]int32, len(services))
	for i, s := range w.servers {
		bySvc[s.svc] = append(bySvc[s.svc], int32(i))
	}

	// Fewer flows than asked if the packets are too few for them.
	nflows := min(cfg.flows, cfg.packets/20)
	// Budgets: refused and unanswered connections have 2 and 3 packets;
	// the others at least minBudget, plus a share of the rest in
	// proportion to a Pareto weight (alpha 1.2, truncated at 1000 times
	// the smallest).
	const (
		minBudget = 10
		alpha     = 1.2
		maxWeight = 1000
	)
	w.plans = make([]plan, nflows)
	weights := make([]float64, nflows)
	fixed := 0
	var wsum float64
	for i := range w.plans {
		p := &w.plans[i]
		switch u := r.Float64(); {
		case u < 0.02 && nflows > 10:
			p.kind, p.budget = kindRefused, 2
		case u < 0.03 && nflows > 10:
			p.kind, p.budget = kindUnanswered, 3
		default:
			p.kind, p.budget = kindNormal, minBudget
			// Inverse of the truncated Pareto distribution's CDF.
			weights[i] = math.Pow(1-r.Float64()*(1-math.Pow(maxWeight, -alpha)), -1/alpha)
			wsum += weights[i]
		}
		fixed += int(p.budget)
	}
	if fixed > cfg.packets {
		panic("mkpcap: too many flows for the packets") // cannot happen: nflows ≤ packets/20
	}
	rest := cfg.packets - fixed
	given := 0
	for i := range w.plans {
		if weights[i] > 0 {
			n := int(float64(rest) * weights[i] / wsum)
			w.plans[i].budget += int32(n)
			given += n
		}
	}
	for i := 0; given < rest; i = (i + 1) % nflows {
		if w.plans[i].kind == kindNormal {
			w.plans[i].budget++
			given++
		}
	}

	// Who talks to whom: a service by weight, one of its servers, and a
	// client, some clients far busier than others (Zipf).
	zipf := rand.NewZipf(r, 1.1, 8, uint64(cfg.clients-1))
	type connKey struct {
		client, server int32
		port           uint16
	}
	used := make(map[connKey]bool, nflows)
	for i := range w.plans {
		p := &w.plans[i]
		list := bySvc[pickWeighted(r, total)]
		for len(list) == 0 { // fewer servers than services
			list = bySvc[pickWeighted(r, total)]
		}
		p.server = list[r.IntN(len(list))]
		p.client = int32(zipf.Uint64())
		c := &w.clients[p.client]
		// The next ephemeral port (Linux's range, 32768-60999) not yet
		// used with this server.
		for tries := 0; ; tries++ {
			if tries > 60999-32768 {
				return nil, fmt.Errorf("client %d.%d.%d.%d has run out of ephemeral ports for a server: use more -clients or -servers", c.ip[0], c.ip[1], c.ip[2], c.ip[3])
			}
			k := connKey{p.client, p.server, c.port}
			p.cport = c.port
			if c.port += uint16(1 + r.IntN(3)); c.port > 60999 {
				c.port -= 60999 - 32768
			}
			if !used[k] {
				used[k] = true
				break
			}
		}
		p.scale = 1
	}

	// Simulate each connection once to learn its length, slow down its
	// think times if it would not fit in three quarters of the duration,
	// and start it at random so that it ends within the duration.
	dur := cfg.duration.Microseconds()
	var s sim
	for i := range w.plans {
		p := &w.plans[i]
		for range 4 {
			s.run(w, i, 0)
			if s.tmax <= dur*3/4 {
				break
			}
			p.scale *= float32(float64(dur*3/4) / float64(s.tmax) * 0.9)
		}
		if s.tmax < dur {
			p.start = r.Int64N(dur - s.tmax)
		}
	}
	return w, nil
}

// pickWeighted picks a service index by weight; total is the sum of the
// weights.
func pickWeighted(r *rand.Rand, total int) int {
	n := r.IntN(total)
	for i, s := range services {
		if n < s.weight {
			return i
		}
		n -= s.weight
	}
	return len(services) - 1
}

// cursor is a connection being written: its packets, in time order, and
// the next one.
type cursor struct {
	plan *plan
	pkts []seg
	next int
	ipid [2]uint16
}

func (c *cursor) t() int64 { return c.pkts[c.next].t }

// generate simulates every connection and writes their packets, merged
// in time order, to w.
func generate(out io.Writer, cfg *config) (summary, error) {
	w, err := newWorld(cfg)
	if err != nil {
		return summary{}, err
	}
	order := make([]int32, len(w.plans))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int {
		pa, pb := &w.plans[a], &w.plans[b]
		switch {
		case pa.start < pb.start:
			return -1
		case pa.start > pb.start:
			return 1
		}
		return 0
	})

	pw := pcapfile.NewWriter(out, pcapfile.LinkTypeEthernet, uint32(cfg.snaplen), cfg.nano)
	enc := newEncoder(cfg.snaplen)
	var (
		sum   summary
		heap  []*cursor // min-heap by the time of the next packet
		free  []*cursor
		s     sim
		first = int64(-1)
		last  int64
	)
	sum.flows = len(w.plans)
	base := captureStart.UnixNano()
	nextPlan := 0
	for {
		// Start every connection whose first packet comes before the
		// next packet of those already started.
		for nextPlan < len(order) && (len(heap) == 0 || w.plans[order[nextPlan]].start <= heap[0].t()) {
			i := int(order[nextPlan])
			nextPlan++
			p := &w.plans[i]
			switch p.kind {
			case kindRefused:
				sum.refused++
			case kindUnanswered:
				sum.unanswered++
			}
			var c *cursor
			if n := len(free); n > 0 {
				c, free = free[n-1], free[:n-1]
			} else {
				c = new(cursor)
			}
			s.pkts = c.pkts[:0]
			s.run(w, i, p.start)
			if len(s.pkts) != int(p.budget) {
				return sum, fmt.Errorf("internal error: connection %d has %d packets, want %d", i, len(s.pkts), p.budget)
			}
			*c = cursor{plan: p, pkts: s.pkts, ipid: s.ipid}
			heap = append(heap, c)
			siftUp(heap, len(heap)-1)
		}
		if len(heap) == 0 {
			break
		}
		c := heap[0]
		pk := &c.pkts[c.next]
		frame, wireLen := enc.frame(w, c.plan, pk, c.ipid[pk.side])
		c.ipid[pk.side]++
		if err := pw.WritePacket(base+pk.t*1000, frame, wireLen); err != nil {
			return sum, err
		}
		if first < 0 {
			first = pk.t
		}
		last = pk.t
		sum.packets++
		sum.wireBytes += int64(wireLen)
		c.next++
		if c.next == len(c.pkts) {
			heap[0] = heap[len(heap)-1]
			heap[len(heap)-1] = nil
			heap = heap[:len(heap)-1]
			c.plan = nil
			free = append(free, c)
		}
		if len(heap) > 0 {
			siftDown(heap, 0)
		}
	}
	if sum.packets != cfg.packets {
		return sum, fmt.Errorf("internal error: wrote %d packets, want %d", sum.packets, cfg.packets)
	}
	sum.span = last - first
	return sum, pw.Flush()
}

// less orders cursors by their next packet's time, then by plan start,
// so that the order is the same on every run.
func less(a, b *cursor) bool {
	ta, tb := a.t(), b.t()
	if ta != tb {
		return ta < tb
	}
	return a.plan.start < b.plan.start || a.plan.start == b.plan.start && a.plan.cport < b.plan.cport
}

func siftUp(h []*cursor, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func siftDown(h []*cursor, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
