package node

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clubnode/clubnode/rooms"
	"github.com/clubnode/clubnode/rooms/roomnet"
)

// nodeCollector exports what the node knows, read at scrape time: members,
// connected peers, rooms and their trees, the forwarders' counters.
type nodeCollector struct{ n *Node }

var (
	descMembers = prometheus.NewDesc("clubnode_members_known",
		"Members of the network this node knows, itself included.", nil, nil)
	descPeers = prometheus.NewDesc("clubnode_peers_connected",
		"Connected libp2p peers, by kind (member: proved membership; unverified: not yet or never) and transport.",
		[]string{"kind", "transport"}, nil)
	descRooms = prometheus.NewDesc("clubnode_rooms",
		"Live rooms this node takes part in, by role (hosted, joined: in the room but not its host).", []string{"role"}, nil)
	descListeners = prometheus.NewDesc("clubnode_room_listeners",
		"Listeners (the audience) in each room this node hosts.", []string{"room"}, nil)
	descChildren = prometheus.NewDesc("clubnode_relay_children",
		"Child links this node relays each room's audio to.", []string{"room"}, nil)
	descSubtree = prometheus.NewDesc("clubnode_relay_subtree",
		"Nodes in this node's subtree of each room's relay tree, itself included.", []string{"room"}, nil)
	descForwarded = prometheus.NewDesc("clubnode_forwarder_packets_total",
		"RTP packets through each room's forwarder: in (accepted from current speakers), forwarded (copies queued to children), "+
			"dropped_not_speaker, dropped_slow_child.", []string{"room", "what"}, nil)
	descVerified = prometheus.NewDesc("clubnode_media_verified_packets_total",
		"Packets of each room a valid signature of their speaker covered: what this node played.", []string{"room"}, nil)
	descRefused = prometheus.NewDesc("clubnode_media_refused_packets_total",
		"Packets of each room this node would not play, by reason: malformed, bad_signature, bad_packet, conflict, "+
			"stale, replay, unverified, overflow, decrypt_failed.", []string{"room", "reason"}, nil)
	descRepairs = prometheus.NewDesc("clubnode_link_repairs_total",
		"Times this node lost its parent in a room's relay tree and looked for a new one.", nil, nil)
	descFailovers = prometheus.NewDesc("clubnode_link_failovers_total",
		"Times this node, having lost its parent, linked to a backup parent its assignment named, without asking the host.", nil, nil)
	descSchema = prometheus.NewDesc("clubnode_datastore_schema_version",
		"The datastore's schema version.", nil, nil)
)

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMembers, descPeers, descRooms, descListeners, descChildren, descSubtree,
		descForwarded, descVerified, descRefused, descRepairs, descFailovers, descSchema} {
		ch <- d
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descSchema, SchemaVersion)
	members := 0
	if n.p2p.Chain() != nil {
		members = len(n.p2p.Members())
	}
	gauge(descMembers, float64(members))
	c.collectPeers(gauge)
	svc := n.rooms.Load()
	if svc == nil {
		gauge(descRooms, 0, "hosted")
		gauge(descRooms, 0, "joined")
		return
	}
	ch <- prometheus.MustNewConstMetric(descRepairs, prometheus.CounterValue, float64(svc.LinkRepairs()))
	ch <- prometheus.MustNewConstMetric(descFailovers, prometheus.CounterValue, float64(svc.LinkFailovers()))
	c.collectRooms(svc, gauge, ch)
}

func (c nodeCollector) collectPeers(gauge func(*prometheus.Desc, float64, ...string)) {
	net := c.n.p2p.Host().Network()
	counts := map[[2]string]int{}
	for _, p := range net.Peers() {
		conns := net.ConnsToPeer(p)
		if len(conns) == 0 {
			continue
		}
		kind := "unverified"
		if c.n.p2p.Connected(p) {
			kind = "member"
		}
		counts[[2]string{kind, transportOf(conns[0].RemoteMultiaddr().String())}]++
	}
	for k, v := range counts {
		gauge(descPeers, float64(v), k[0], k[1])
	}
}

func transportOf(addr string) string {
	switch {
	case strings.Contains(addr, "/quic"):
		return "quic"
	case strings.Contains(addr, "/p2p-circuit"):
		return "relay"
	case strings.Contains(addr, "/tcp/"):
		return "tcp"
	}
	return "other"
}

func (c nodeCollector) collectRooms(svc *roomnet.Service, gauge func(*prometheus.Desc, float64, ...string), ch chan<- prometheus.Metric) {
	self := c.n.ID()
	var hosted, joined int
	for _, st := range svc.Rooms() {
		if st.Status != rooms.StatusLive || !st.InRoom(self) && st.Host != self {
			continue
		}
		room := string(st.Room)
		if st.Host == self {
			hosted++
			gauge(descListeners, float64(len(st.Audience)), room)
		} else {
			joined++
		}
		ms, ok := svc.Media(st.Room)
		if !ok {
			continue
		}
		gauge(descChildren, float64(len(ms.Children)), room)
		gauge(descSubtree, float64(ms.Subtree), room)
		for what, v := range map[string]uint64{"in": ms.Forwarder.PacketsIn, "forwarded": ms.Forwarder.Forwarded,
			"dropped_not_speaker": ms.Forwarder.DroppedNotSpeaker, "dropped_slow_child": ms.Forwarder.DroppedSlowChild} {
			ch <- prometheus.MustNewConstMetric(descForwarded, prometheus.CounterValue, float64(v), room, what)
		}
		ch <- prometheus.MustNewConstMetric(descVerified, prometheus.CounterValue, float64(ms.Guard.Released), room)
		for reason, v := range ms.Guard.Refusals() {
			ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(v), room, reason)
		}
	}
	gauge(descRooms, float64(hosted), "hosted")
	gauge(descRooms, float64(joined), "joined")
}
