// Package rooms is the pure core of clubnode's live audio rooms: the room
// state document, the requests that change it, the one permission table
// that decides them, room tickets, hallway announcements and the directory
// that lists them. It does no I/O; the node wires it to libp2p streams
// (requests to the host, states down the relay tree) and to gossipsub
// (announcements).
//
// Every object is a libp2p signed envelope over strict, deterministic CBOR
// (internal/wire), with its own domain string, a version and a size limit,
// like identity's:
//
//	State         clubnode/room-state/v1         signed by its host
//	Request       clubnode/room-request/v1       signed by the requester
//	Ticket        clubnode/room-ticket/v1        signed by the host or creator
//	Announcement  clubnode/room-announcement/v1  signed by the host
//	Assignment    clubnode/room-assignment/v1    signed by the host or a delegate
//	Delegation    clubnode/room-delegation/v1    signed by the host
//
// The flow, on the host's node:
//
//	req, err := rooms.ParseRequest(frame)         // signature, form, size
//	err = guard.Check(&req.Request, now)          // replay window, nonce
//	next, err := rooms.Apply(cur.State, req.Request, admission)
//	signed, err := rooms.SignState(hostKey, next) // publish down the tree
//
// and on every participant's:
//
//	next, err := rooms.ParseState(frame)
//	err = rooms.Accept(held, next)                // no rollback, no forged host
//
// When the host's node dies, each moderator waits its turn in Successors
// and the first alive signs Takeover(state, itself, now); participants
// accept it because the new host was a moderator in the state they hold.
// Should two moderators take over at once, the takeover's version jump
// makes everyone settle on the one earlier in Successors. With no moderator
// left the room ends: participants see the host silent and Successor report
// none, and the hallway drops the room at its expiry.
//
// The relay tree: the host keeps a Tree and decides every placement with
// a Placer (placement.go): shallowest parent with room, using what nodes
// report (measured uplink, reach, network coordinates, always-on), with
// backup parents known in advance (backups.go). An Assignment tells the
// parent the child is the host's; a Delegation lets an always-on relay
// place its own subtree (delegation.go). cmd/clubsim drives this code with
// tens of thousands of simulated listeners.
//
// Who sees what in the hallway: open rooms, everyone; social rooms, the
// members the current host follows, named by follow tags that only they can
// recognise (follow.go; after a takeover the new host's follows count);
// closed rooms, holders of a ticket from the room's creator or host. A
// scheduled room is listed while its host's node is online to announce it,
// and that node opens it at its start (GoLive).
package rooms
