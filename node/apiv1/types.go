// Package apiv1 is the wire format of the node's local HTTP API under
// /api/v1: the routes, the JSON request and response bodies, helpers the
// server uses to speak that format, and the Client the CLI uses.
//
// Peer IDs travel as their libp2p string form. Errors are a JSON body
// {"error":"message"} with a 4xx or 5xx status. Every action that changes
// state is a POST (kubo issue 2165: GET actions can be fired by an <img>).
package apiv1

import "time"

// Paths of the endpoints, for the client.
const (
	PathID          = "/api/v1/id"
	PathNetwork     = "/api/v1/network"
	PathInvites     = "/api/v1/invites"
	PathJoin        = "/api/v1/join"
	PathMembers     = "/api/v1/members"
	PathProfile     = "/api/v1/profile"  // POST sets this node's profile
	PathProfileOf   = "/api/v1/profile/" // + peer ID: GET a member's profile
	PathRevocations = "/api/v1/revocations"
	PathPeers       = "/api/v1/peers"
)

// Routes are http.ServeMux patterns for the server, one per endpoint, so
// server and client cannot drift apart on method or path.
const (
	RouteID            = "GET " + PathID
	RouteCreateNetwork = "POST " + PathNetwork
	RouteCreateInvite  = "POST " + PathInvites
	RouteJoin          = "POST " + PathJoin
	RouteMembers       = "GET " + PathMembers
	RouteProfile       = "GET " + PathProfileOf + "{peer}"
	RouteSetProfile    = "POST " + PathProfile
	RouteRevoke        = "POST " + PathRevocations
	RoutePeers         = "GET " + PathPeers
)

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// Identity answers GET /api/v1/id: who this node is.
type Identity struct {
	PeerID string   `json:"peer_id"`
	Name   string   `json:"name"`
	Addrs  []string `json:"addrs"`
	// Network is nil until the node founds or joins a network.
	Network *Network `json:"network"`
	// NAT is how the NAT in front of the node maps ports, as its test
	// against two always-on nodes' STUN servers found: "public" (no NAT),
	// "endpoint-independent" (hole punching works), "symmetric" (only a
	// relay reaches it) or "unknown" (not two always-on nodes answered).
	NAT string `json:"nat"`
	// NATMapped is what each STUN server saw, "mapped via server".
	NATMapped []string `json:"nat_mapped,omitempty"`
	// Reach is what the node tells a room's host of itself when it asks
	// for a place: "public", "punchable" or "relay-only" (a leaf).
	Reach string `json:"reach"`
}

// Network describes an invite-only network.
type Network struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Founder string `json:"founder"`
}

// CreateNetworkRequest is the body of POST /api/v1/network, which founds
// a network with this node as its founder. The answer is a Network.
type CreateNetworkRequest struct {
	Name string `json:"name"`
}

// CreateInviteRequest is the body of POST /api/v1/invites. The answer is
// an Invite.
type CreateInviteRequest struct {
	Uses           int `json:"uses"`
	ExpiresSeconds int `json:"expires_seconds"`
	// For binds the invite to one peer ID (redeemable offline); empty
	// makes a bearer invite redeemed online at this node.
	For string `json:"for"`
}

// Invite is an issued invite token.
type Invite struct {
	Token   string    `json:"token"`
	Network Network   `json:"network"`
	Expires time.Time `json:"expires"`
	Uses    int       `json:"uses"`
	For     string    `json:"for"`
}

// JoinRequest is the body of POST /api/v1/join. The answer is a
// JoinResult.
type JoinRequest struct {
	Token string `json:"token"`
}

// JoinResult tells which network the node joined and through whom.
type JoinResult struct {
	Network   Network `json:"network"`
	InvitedBy string  `json:"invited_by"`
	// Chain is the certificate chain of peer IDs, founder first, ending
	// with this node.
	Chain []string `json:"chain"`
	// AlreadyMember: the node was in this network already; if it reached
	// no other member, it has dialled the token's addresses.
	AlreadyMember bool `json:"already_member,omitempty"`
}

// Member is a member's profile, as GET /api/v1/members lists them and
// GET /api/v1/profile/{peer} returns one.
type Member struct {
	PeerID    string `json:"peer_id"`
	Name      string `json:"name"`
	Bio       string `json:"bio"`
	InvitedBy string `json:"invited_by"`
	// Chain is the member's certificate chain, founder first, ending
	// with the member.
	Chain     []string `json:"chain"`
	Connected bool     `json:"connected"`
	// Support is the member's support link (tips, subscriptions, paid
	// outside clubnode), if they gave one.
	Support string `json:"support,omitempty"`
}

// SetProfileRequest is the body of POST /api/v1/profile, which sets this
// node's own profile. The answer is the updated Member.
type SetProfileRequest struct {
	Name string `json:"name"`
	Bio  string `json:"bio"`
	// Support, when present, sets the support link ("" removes it);
	// absent, the link stays as it is.
	Support *string `json:"support,omitempty"`
}

// RevokeRequest is the body of POST /api/v1/revocations. The answer is a
// Revocation.
type RevokeRequest struct {
	Peer         string `json:"peer"`
	WithInvitees bool   `json:"with_invitees"`
}

// Revocation is a revocation this node issued.
type Revocation struct {
	Peer         string    `json:"peer"`
	Revoker      string    `json:"revoker"`
	WithInvitees bool      `json:"with_invitees"`
	At           time.Time `json:"at"`
}

// Peer is a peer this node is connected to, member or not yet proven.
type Peer struct {
	PeerID string `json:"peer_id"`
	Addr   string `json:"addr"`
	Member bool   `json:"member"`
	// Link is how the libp2p connection is carried: "direct" (a hole
	// punched through NAT counts) or "relayed" (only through an always-on
	// node's circuit relay, for control traffic). RTTMillis is libp2p's
	// moving average of the round-trip time (0 until measured).
	Link      string  `json:"link"`
	RTTMillis float64 `json:"rtt_ms"`
}
