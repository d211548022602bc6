// Package metrics is the Prometheus implementation of mapper.Observer:
// per-rule counters of connections, bytes, errors and refusals, and a
// gauge of active connections.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portkit/ports/mapper"
)

// Observer counts mapper events into Prometheus metrics, all labelled
// with the rule name:
//
//	ports_map_connections_total{rule}            connections (UDP sessions) let in
//	ports_map_bytes_total{rule,direction}        bytes, direction "up" (client→upstream) or "down"
//	ports_map_errors_total{rule,stage}           failures after a client was let in (dial, proxy_header, proxy)
//	ports_map_refused_total{rule,reason}         clients turned away (source, gate, max_conns, auth, ...)
//	ports_map_active{rule}                       connections (UDP sessions) open now
//	ports_map_upstreams{rule}                    upstream sockets open now (an HTTP proxy's kept-alive ones included)
//	ports_map_destination_up{rule,dest}          1 while a mapping's destination is in rotation, 0 while down
type Observer struct {
	reg     *prometheus.Registry
	conns   *prometheus.CounterVec
	bytes   *prometheus.CounterVec
	errors  *prometheus.CounterVec
	refused *prometheus.CounterVec
	active  *prometheus.GaugeVec
	ups     *prometheus.GaugeVec
	destUp  *prometheus.GaugeVec
}

var (
	_ mapper.Observer         = (*Observer)(nil)
	_ mapper.UpstreamObserver = (*Observer)(nil)

	_ mapper.DestinationObserver = (*Observer)(nil)
)

// New returns an Observer with its own registry (with the Go and process
// collectors).
func New() *Observer {
	o := &Observer{
		reg: prometheus.NewRegistry(),
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ports_map_connections_total",
			Help: "Connections (UDP sessions) let in, per rule."}, []string{"rule"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ports_map_bytes_total",
			Help: "Bytes relayed, per rule and direction (up: client to upstream, down: upstream to client)."}, []string{"rule", "direction"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ports_map_errors_total",
			Help: "Failures on connections let in (dial, proxy_header, proxy), per rule."}, []string{"rule", "stage"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ports_map_refused_total",
			Help: "Clients refused, per rule and reason."}, []string{"rule", "reason"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ports_map_active",
			Help: "Connections (UDP sessions) open now, per rule."}, []string{"rule"}),
		ups: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ports_map_upstreams",
			Help: "Upstream sockets open now, per rule (an HTTP proxy's kept-alive connections included)."}, []string{"rule"}),
		destUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ports_map_destination_up",
			Help: "1 while a mapping's destination is in rotation, 0 while its health check or failed dials have it down."}, []string{"rule", "dest"}),
	}
	o.reg.MustRegister(o.conns, o.bytes, o.errors, o.refused, o.active, o.ups, o.destUp,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return o
}

// Handler serves the metrics in the Prometheus text format.
func (o *Observer) Handler() http.Handler {
	return promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{})
}

// Registry returns the registry, to gather from in tests.
func (o *Observer) Registry() *prometheus.Registry { return o.reg }

func (o *Observer) Accepted(rule string) {
	o.conns.WithLabelValues(rule).Inc()
	o.active.WithLabelValues(rule).Inc()
}

func (o *Observer) Transferred(rule string, up, down int64) {
	if up > 0 {
		o.bytes.WithLabelValues(rule, "up").Add(float64(up))
	}
	if down > 0 {
		o.bytes.WithLabelValues(rule, "down").Add(float64(down))
	}
}

func (o *Observer) Closed(rule string, _ mapper.Stats) { o.active.WithLabelValues(rule).Dec() }

func (o *Observer) Refused(rule, reason string) { o.refused.WithLabelValues(rule, reason).Inc() }

func (o *Observer) Failed(rule, stage string) { o.errors.WithLabelValues(rule, stage).Inc() }

func (o *Observer) Upstreams(rule string, delta int) { o.ups.WithLabelValues(rule).Add(float64(delta)) }

func (o *Observer) DestinationUp(rule, dest string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	o.destUp.WithLabelValues(rule, dest).Set(v)
}

// DestinationsGone drops the gauges of a stopped rule, so that a
// removed destination is not reported for ever.
func (o *Observer) DestinationsGone(rule string) {
	o.destUp.DeletePartialMatch(prometheus.Labels{"rule": rule})
}
