package node

// wireKbpsPerStream is what one Opus voice at 32 kbit/s costs on the wire
// to one child: 50 packets a second of about 80 bytes of Opus, plus RTP
// (12), SRTP's tag (10), UDP (8) and IPv4 (20) headers, plus RTCP and the
// occasional retransmission: about 55 kbit/s.
const wireKbpsPerStream = 55

// typicalSpeakers is how many voices the warning assumes at once: a stage
// has a few people talking over each other at most.
const typicalSpeakers = 2

// checkCapacity warns when relay_capacity promises more than the uplink
// the user stated (uplink_kbps) can carry: each child gets every speaker's
// stream, so a full relay sends capacity × speakers × 55 kbit/s.
func (n *Node) checkCapacity() {
	up, capacity := n.cfg.Settings.UplinkKbps, n.cfg.Settings.RelayCapacity
	if up <= 0 || capacity <= 0 {
		return
	}
	need := capacity * typicalSpeakers * wireKbpsPerStream
	if need <= up {
		return
	}
	n.log.Warn("relay_capacity is more than the uplink can carry: lower it or raise uplink_kbps",
		"relay_capacity", capacity, "uplink_kbps", up, "needed_kbps", need, "speakers_assumed", typicalSpeakers,
		"kbps_per_child_per_speaker", wireKbpsPerStream, "suggested_relay_capacity", up/(typicalSpeakers*wireKbpsPerStream))
}
