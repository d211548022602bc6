package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portkit/ports/mapper"
	"github.com/portkit/ports/mapper/metrics"
)

func TestObserverSeries(t *testing.T) {
	o := metrics.New()
	o.Accepted("web")
	o.Accepted("web")
	o.Transferred("web", 100, 0)
	o.Transferred("web", 20, 7)
	o.Closed("web", mapper.Stats{})
	o.Refused("web", mapper.RefuseSource)
	o.Failed("web", "dial")
	o.Upstreams("web", 1)
	o.Upstreams("web", 1)
	o.Upstreams("web", -1)
	o.DestinationUp("web", "127.0.0.1:81", true)
	o.DestinationUp("web", "127.0.0.1:82", true)
	o.DestinationUp("web", "127.0.0.1:82", false)
	o.DestinationUp("old", "127.0.0.1:83", true)
	o.DestinationsGone("old")

	srv := httptest.NewServer(o.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	for _, want := range []string{
		`ports_map_connections_total{rule="web"} 2`,
		`ports_map_bytes_total{direction="up",rule="web"} 120`,
		`ports_map_bytes_total{direction="down",rule="web"} 7`,
		`ports_map_active{rule="web"} 1`,
		`ports_map_refused_total{reason="source",rule="web"} 1`,
		`ports_map_errors_total{rule="web",stage="dial"} 1`,
		`ports_map_upstreams{rule="web"} 1`,
		`ports_map_destination_up{dest="127.0.0.1:81",rule="web"} 1`,
		`ports_map_destination_up{dest="127.0.0.1:82",rule="web"} 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("no %s in:\n%s", want, text)
		}
	}
	if strings.Contains(text, `rule="old"`) {
		t.Errorf("a stopped rule's destinations are still reported:\n%s", text)
	}
}
