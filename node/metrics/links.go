package metrics

import (
	"strconv"
	"time"

	"github.com/clubnode/clubnode/audio/rtc"
)

// LinkSource appends a snapshot of every live media link to dst
// (rtc.API.LinkStats).
type LinkSource func(dst []rtc.LinkStats) []rtc.LinkStats

// The per-link families are written straight in the text exposition
// format rather than through client_golang's const metrics: a node with
// 1,000 links has 10,000 link samples, and at the library's 2-3 µs a
// sample (label pairs built, sorted and checked one by one) a scrape would
// take 20-30 ms, where appending the text takes well under one. The
// families, names and help texts below are the whole of that format's use.
type linkFamily struct {
	name, help, typ string
	extra           string // the extra label's name, "" for none
	samples         []linkSample
}

type linkSample struct {
	extra string // the extra label's value
	value func(*rtc.LinkStats) float64
}

func seconds(d time.Duration) float64 { return d.Seconds() }

var linkFamilies = []linkFamily{
	{"clubnode_link_rtp_packets_total", "RTP packets on a relay tree link, by direction (retransmissions included).", "counter", "direction",
		[]linkSample{{"sent", func(l *rtc.LinkStats) float64 { return float64(l.PacketsSent) }},
			{"received", func(l *rtc.LinkStats) float64 { return float64(l.PacketsReceived) }}}},
	{"clubnode_link_rtp_bytes_total", "RTP payload bytes on a relay tree link, by direction.", "counter", "direction",
		[]linkSample{{"sent", func(l *rtc.LinkStats) float64 { return float64(l.BytesSent) }},
			{"received", func(l *rtc.LinkStats) float64 { return float64(l.BytesReceived) }}}},
	{"clubnode_link_nacks_total", "NACKs on a link: received (the peer asked for retransmissions) or sent (this node asked).", "counter", "direction",
		[]linkSample{{"received", func(l *rtc.LinkStats) float64 { return float64(l.NACKsReceived) }},
			{"sent", func(l *rtc.LinkStats) float64 { return float64(l.NACKsSent) }}}},
	{"clubnode_link_packets_lost_total", "RTP packets lost on a link: local (missed here) or remote (the peer's receiver reports).", "counter", "side",
		[]linkSample{{"local", func(l *rtc.LinkStats) float64 { return float64(l.PacketsLost) }},
			{"remote", func(l *rtc.LinkStats) float64 { return float64(l.RemoteLost) }}}},
	{"clubnode_link_jitter_seconds", "Interarrival jitter of what the link receives (largest of its streams).", "gauge", "",
		[]linkSample{{"", func(l *rtc.LinkStats) float64 { return seconds(l.Jitter) }}}},
	{"clubnode_link_rtt_seconds", "Round-trip time of the link from the peer's receiver reports (0 until the first).", "gauge", "",
		[]linkSample{{"", func(l *rtc.LinkStats) float64 { return seconds(l.RTT) }}}},
}

// appendLinks appends the link families for links to dst. Each link's
// label set is escaped once, then copied into each of its samples.
func appendLinks(dst []byte, links []rtc.LinkStats, scratch []byte) (out, scratchOut []byte) {
	scratch = scratch[:0]
	ends := make([]int, len(links))
	for i := range links {
		l := &links[i]
		scratch = appendLabel(scratch, '{', "peer", l.Peer)
		scratch = appendLabel(scratch, ',', "role", l.Role)
		scratch = appendLabel(scratch, ',', "room", l.Room)
		ends[i] = len(scratch)
	}
	for _, f := range linkFamilies {
		dst = append(dst, "# HELP "...)
		dst = append(dst, f.name...)
		dst = append(dst, ' ')
		dst = append(dst, f.help...)
		dst = append(dst, "\n# TYPE "...)
		dst = append(dst, f.name...)
		dst = append(dst, ' ')
		dst = append(dst, f.typ...)
		dst = append(dst, '\n')
		begin := 0
		for i := range links {
			labels := scratch[begin:ends[i]]
			begin = ends[i]
			for _, s := range f.samples {
				dst = append(dst, f.name...)
				dst = append(dst, labels...)
				if f.extra != "" {
					dst = appendLabel(dst, ',', f.extra, s.extra)
				}
				dst = append(dst, "} "...)
				dst = strconv.AppendFloat(dst, s.value(&links[i]), 'g', -1, 64)
				dst = append(dst, '\n')
			}
		}
	}
	return dst, scratch
}

// appendLabel appends sep name="value", escaping the value as the text
// format requires (backslash, double quote, line feed).
func appendLabel(dst []byte, sep byte, name, value string) []byte {
	dst = append(dst, sep)
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\\', '"':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
