package metrics

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/clubnode/clubnode/audio/rtc"
)

// A scrape with real links parses as the text format, with one sample of
// each link family per link and direction, labelled by room, peer and role.
func TestScrapeLinks(t *testing.T) {
	api := linkPairs(t, 2)
	m := New()
	m.SetLinkSource(api.LinkStats)
	out := scrape(t, m.Handler(slog.New(slog.NewTextHandler(io.Discard, nil))))
	families := parse(t, out)
	for name, want := range map[string]int{
		"clubnode_link_rtp_packets_total": 8, "clubnode_link_rtp_bytes_total": 8, "clubnode_link_nacks_total": 8,
		"clubnode_link_packets_lost_total": 8, "clubnode_link_jitter_seconds": 4, "clubnode_link_rtt_seconds": 4,
		"clubnode_build_info": 1, "go_goroutines": 1, "clubnode_join_to_first_audio_seconds": 1,
	} {
		f, ok := families[name]
		if !ok || len(f.Metric) != want {
			t.Errorf("%s: %d samples, want %d", name, len(f.GetMetric()), want)
		}
	}
	var sent float64
	for _, s := range families["clubnode_link_rtp_packets_total"].Metric {
		labels := map[string]string{}
		for _, l := range s.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["role"] == rtc.RoleChild && labels["direction"] == "sent" {
			sent += s.Counter.GetValue()
		}
		if !strings.HasPrefix(labels["room"], "room-") || labels["peer"] == "" {
			t.Errorf("labels %v", labels)
		}
	}
	if sent == 0 {
		t.Error("no packets counted as sent on the child links")
	}
}

// Label values are escaped as the format requires.
func TestLinkLabelsEscaped(t *testing.T) {
	links := []rtc.LinkStats{{LinkLabel: rtc.LinkLabel{Room: "a\"b\\c\nd", Peer: "p"}, Role: rtc.RoleParent, RTT: 1500000}}
	out, _ := appendLinks(nil, links, nil)
	f := parse(t, string(out))["clubnode_link_rtt_seconds"]
	if got := f.Metric[0].Label[2].GetValue(); got != "a\"b\\c\nd" {
		t.Fatalf("room label read back as %q", got)
	}
	if v := f.Metric[0].Gauge.GetValue(); v != 0.0015 {
		t.Fatalf("rtt %v", v)
	}
}

func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader([]byte(text)))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	return families
}
