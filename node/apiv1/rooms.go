package apiv1

import "time"

// Room endpoints. A room's ID is "room-" and 26 base32 characters.
const (
	PathRooms   = "/api/v1/rooms"   // GET: the hallway; POST: create a room
	PathRoom    = "/api/v1/rooms/"  // + ID: GET the room's state; + ID/ACTION: POST a request
	PathFollows = "/api/v1/follows" // POST: follow or unfollow a member
	PathBlocks  = "/api/v1/blocks"  // POST: block or unblock a member

	RouteHallway    = "GET " + PathRooms
	RouteCreateRoom = "POST " + PathRooms
	RouteRoom       = "GET " + PathRoom + "{room}"
	RouteRoomAction = "POST " + PathRoom + "{room}/{action}"
	RouteFollow     = "POST " + PathFollows
	RouteBlock      = "POST " + PathBlocks
)

// Room actions, the last path element of RouteRoomAction: the names of
// the rooms package's request kinds (rooms.Kind.String). Those that act
// on someone take RoomActionRequest.Peer; "mute" without a peer mutes
// oneself. "ticket" answers a RoomTicket instead of a RoomState.
const (
	ActionJoin           = "join"
	ActionLeave          = "leave"
	ActionRaiseHand      = "raise-hand"
	ActionLowerHand      = "lower-hand"
	ActionInviteSpeaker  = "invite-speaker"
	ActionAcceptInvite   = "accept-invite"
	ActionDeclineInvite  = "decline-invite"
	ActionMoveToAudience = "move-to-audience"
	ActionMute           = "mute"
	ActionUnmuteSelf     = "unmute-self"
	ActionRemove         = "remove"
	ActionMakeModerator  = "make-moderator"
	ActionStepDown       = "step-down"
	ActionEnd            = "end"
	ActionTicket         = "ticket"

	// Deprecated: the first API's names, which the server still takes
	// (ActionAliases) for one more release; use the names above.
	ActionHandUp   = "hand-up"
	ActionHandDown = "hand-down"
	ActionAccept   = "accept"
	ActionDecline  = "decline"
	ActionUnmute   = "unmute"
)

// ActionAliases maps the action names of the first API to today's.
var ActionAliases = map[string]string{ActionHandUp: ActionRaiseHand, ActionHandDown: ActionLowerHand,
	ActionAccept: ActionAcceptInvite, ActionDecline: ActionDeclineInvite, ActionUnmute: ActionUnmuteSelf}

// RoomActions says what the viewer may ask of the room's host right now:
// Self about itself, Peers about each other participant (peer ID to
// action names; a peer with none is left out). The host applies the same
// rules, so a client builds its menus from this and offers nothing the
// host refuses.
type RoomActions struct {
	Self  []string            `json:"self"`
	Peers map[string][]string `json:"peers"`
}

// CreateRoomRequest is the body of POST /api/v1/rooms. Type is "open"
// (default), "social" or "closed"; a zero Start starts the room now.
type CreateRoomRequest struct {
	Title string    `json:"title"`
	Type  string    `json:"type"`
	Start time.Time `json:"start,omitzero"`
}

// RoomActionRequest is the body of POST /api/v1/rooms/{room}/{action}.
type RoomActionRequest struct {
	Peer   string `json:"peer,omitempty"`
	Ticket string `json:"ticket,omitempty"` // a room ticket, for joining a closed room
}

// Room is a hallway entry.
type Room struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Type      string    `json:"type"`
	Status    string    `json:"status"` // scheduled, live or ended
	Host      string    `json:"host"`
	Speakers  []string  `json:"speakers"`
	Listeners int       `json:"listeners"`
	Start     time.Time `json:"start,omitzero"`
	// Followed counts the people this node follows among the host and
	// the speakers; the hallway lists rooms with more of them first, then
	// those with more listeners.
	Followed int `json:"followed"`
	// Reminded: this node asked for a notice when the room starts.
	Reminded bool `json:"reminded,omitempty"`
}

// RoomSpeaker is one person on the stage.
type RoomSpeaker struct {
	PeerID    string `json:"peer_id"`
	Muted     bool   `json:"muted"`
	Moderator bool   `json:"moderator"`
}

// RoomState is a room as a participant sees it.
type RoomState struct {
	Room
	Version  uint64        `json:"version"`
	Stage    []RoomSpeaker `json:"stage"`
	Audience []string      `json:"audience"`
	Hands    []string      `json:"hands"`
	Invited  []string      `json:"invited"`
	// Role is this node's role in the room: host, moderator, speaker,
	// listener, invited or non-participant.
	Role string `json:"role"`
	// Audio is this node's place in the room's relay tree, when it has
	// joined the audio.
	Audio *RoomAudio `json:"audio,omitempty"`
	// Actions is what this node may do in the room now.
	Actions RoomActions `json:"actions"`
	// Left, in the answer to a join, lists the rooms the node left for
	// this one: a node is in one room at a time.
	Left []string `json:"left,omitempty"`
}

// RoomAudio is a node's place in a room's relay tree.
type RoomAudio struct {
	Parent string `json:"parent,omitempty"` // empty on the host, and while looking for a parent
	// Backups are the parents the host named for this node to fail over
	// to, best first, without asking it.
	Backups []string `json:"backups"`
	// Standby is the backup this node holds a connected standby link to:
	// failing over to it takes one frame, not a new connection.
	Standby  string   `json:"standby,omitempty"`
	Children []string `json:"children"`
	// Subtree counts this node and everyone linked below it.
	Subtree int `json:"subtree"`
	// PacketsIn counts the current speakers' packets this node has had.
	PacketsIn uint64 `json:"packets_in"`
	// Verified counts the packets a valid signature of their speaker
	// covered: what this node played.
	Verified uint64 `json:"verified"`
	// Refused counts the packets this node would not play, by reason:
	// malformed, bad_signature, bad_packet, conflict (altered or injected
	// on the way), stale, replay, unverified (no signature covered them in
	// time), overflow (this node fell behind), decrypt_failed (a closed
	// room's epoch it lacks).
	Refused map[string]uint64 `json:"refused"`
	// Links are this node's live audio links in the tree.
	Links []RoomLink `json:"links"`
}

// RoomLink is one audio link of the tree and how it is carried: Path is
// "direct" (no NAT between), "hole-punched" (through a NAT's mapping),
// "turn" (through an always-on node's TURN relay) or "" while ICE has
// not chosen yet. Relay is the TURN relay's address (on an always-on
// node) when Path is "turn". RTTMillis is ICE's latest round-trip time.
type RoomLink struct {
	Peer string `json:"peer"`
	// Role is the peer's place: "parent" (this node's) or "child"; a
	// standby link not yet activated is "standby-parent" (the backup this
	// node would fail over to) or "standby-child".
	Role      string  `json:"role"`
	Path      string  `json:"path"`
	Relay     string  `json:"relay,omitempty"`
	RTTMillis float64 `json:"rtt_ms"`
}

// RoomTicket is a host-signed ticket to a closed room. Delivered says the
// holder's node has it already (the room is in their hallway and their
// join presents it); otherwise NotDelivered says why, and the holder needs
// Ticket passed on to join with it.
type RoomTicket struct {
	Room         string    `json:"room"`
	For          string    `json:"for"`
	Ticket       string    `json:"ticket"`
	Expires      time.Time `json:"expires"`
	Delivered    bool      `json:"delivered"`
	NotDelivered string    `json:"not_delivered,omitempty"`
}

// FollowRequest is the body of POST /api/v1/follows and /api/v1/blocks:
// On true follows (blocks) Peer, false undoes it.
type FollowRequest struct {
	Peer string `json:"peer"`
	On   bool   `json:"on"`
}
