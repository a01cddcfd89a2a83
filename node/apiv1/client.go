package apiv1

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/clubnode/clubnode/node/home"
)

// ErrNoDaemon is home.ErrNoDaemon, so callers of the client need not
// import home to recognise it.
var ErrNoDaemon = home.ErrNoDaemon

// APIError is an error answer from the daemon. Its text is the daemon's
// message alone (say "invite token expired at ..."): that is what the user
// needs to read, and the CLI prints it as is.
type APIError struct {
	Status  int    // HTTP status code
	Message string // the "error" field of the body
}

func (e *APIError) Error() string { return e.Message }

// Client calls a running daemon's local API.
type Client struct {
	// Home is the home folder named in the error returned when no daemon
	// answers; the CLI sets it so the user knows which home was meant.
	Home string

	addr  string
	token string
	http  *http.Client
}

// NewClient returns a client for the API at addr (host:port) that
// presents token.
func NewClient(addr, token string) *Client {
	return &Client{
		addr:  addr,
		token: token,
		http: &http.Client{
			Transport: &http.Transport{
				// The API is on loopback: never route it through a proxy
				// from the environment, which would see the token.
				Proxy:       nil,
				DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
				// The CLI makes a request or two per run; keep-alive
				// would only leave idle connections and goroutines.
				DisableKeepAlives: true,
			},
			// The API never redirects; following one could carry a
			// request somewhere the guard does not protect.
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// ID returns the node's identity.
func (c *Client) ID(ctx context.Context) (Identity, error) {
	var out Identity
	err := c.do(ctx, http.MethodGet, PathID, nil, &out)
	return out, err
}

// CreateNetwork founds a network with this node as its founder.
func (c *Client) CreateNetwork(ctx context.Context, name string) (Network, error) {
	var out Network
	err := c.do(ctx, http.MethodPost, PathNetwork, CreateNetworkRequest{Name: name}, &out)
	return out, err
}

// CreateInvite issues an invite token.
func (c *Client) CreateInvite(ctx context.Context, req CreateInviteRequest) (Invite, error) {
	var out Invite
	err := c.do(ctx, http.MethodPost, PathInvites, req, &out)
	return out, err
}

// Join redeems an invite token.
func (c *Client) Join(ctx context.Context, token string) (JoinResult, error) {
	var out JoinResult
	err := c.do(ctx, http.MethodPost, PathJoin, JoinRequest{Token: token}, &out)
	return out, err
}

// Members lists the network's members known to the node.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var out []Member
	if err := c.do(ctx, http.MethodGet, PathMembers, nil, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = []Member{} // so --json prints [] rather than null
	}
	return out, nil
}

// Profile returns the profile of the member with the given peer ID.
func (c *Client) Profile(ctx context.Context, peerID string) (Member, error) {
	var out Member
	if peerID == "" {
		return out, errors.New("profile: empty peer ID")
	}
	err := c.do(ctx, http.MethodGet, PathProfileOf+url.PathEscape(peerID), nil, &out)
	return out, err
}

// SetProfile sets this node's own name and bio.
func (c *Client) SetProfile(ctx context.Context, req SetProfileRequest) (Member, error) {
	var out Member
	err := c.do(ctx, http.MethodPost, PathProfile, req, &out)
	return out, err
}

// Revoke revokes a member, and if asked everyone they invited.
func (c *Client) Revoke(ctx context.Context, req RevokeRequest) (Revocation, error) {
	var out Revocation
	err := c.do(ctx, http.MethodPost, PathRevocations, req, &out)
	return out, err
}

// Peers lists the peers the node is connected to.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var out []Peer
	if err := c.do(ctx, http.MethodGet, PathPeers, nil, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = []Peer{}
	}
	return out, nil
}

// Hallway lists the rooms this node can see: live rooms and scheduled
// ones, each with its ID.
func (c *Client) Hallway(ctx context.Context) ([]Room, error) {
	var out []Room
	if err := c.do(ctx, http.MethodGet, PathRooms, nil, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = []Room{}
	}
	return out, nil
}

// CreateRoom starts a room now, or schedules one when req.Start is set,
// with this node as its host.
func (c *Client) CreateRoom(ctx context.Context, req CreateRoomRequest) (RoomState, error) {
	var out RoomState
	err := c.do(ctx, http.MethodPost, PathRooms, req, &out)
	return out, err
}

// Room returns a room's state as this node sees it.
func (c *Client) Room(ctx context.Context, id string) (RoomState, error) {
	var out RoomState
	if id == "" {
		return out, errors.New("room: empty room ID")
	}
	err := c.do(ctx, http.MethodGet, PathRoom+url.PathEscape(id), nil, &out)
	return out, err
}

// RoomAction sends one of the Action* requests (all but ActionTicket, see
// RoomTicket) to a room and returns the room's state after it.
func (c *Client) RoomAction(ctx context.Context, id, action string, req RoomActionRequest) (RoomState, error) {
	var out RoomState
	switch {
	case id == "":
		return out, errors.New("room action: empty room ID")
	case action == "":
		return out, errors.New("room action: empty action")
	case action == ActionTicket:
		return out, errors.New("room action: a ticket is asked for with RoomTicket")
	}
	err := c.do(ctx, http.MethodPost, roomActionPath(id, action), req, &out)
	return out, err
}

// RoomTicket has the host sign a ticket that lets peer find and join a
// closed room.
func (c *Client) RoomTicket(ctx context.Context, id, peer string) (RoomTicket, error) {
	var out RoomTicket
	switch {
	case id == "":
		return out, errors.New("room ticket: empty room ID")
	case peer == "":
		return out, errors.New("room ticket: empty peer ID")
	}
	err := c.do(ctx, http.MethodPost, roomActionPath(id, ActionTicket), RoomActionRequest{Peer: peer}, &out)
	return out, err
}

// Follow follows peer (on) or unfollows them (!on).
func (c *Client) Follow(ctx context.Context, peer string, on bool) error {
	if peer == "" {
		return errors.New("follow: empty peer ID")
	}
	return c.do(ctx, http.MethodPost, PathFollows, FollowRequest{Peer: peer, On: on}, nil)
}

// Block blocks peer (on) or unblocks them (!on).
func (c *Client) Block(ctx context.Context, peer string, on bool) error {
	if peer == "" {
		return errors.New("block: empty peer ID")
	}
	return c.do(ctx, http.MethodPost, PathBlocks, FollowRequest{Peer: peer, On: on}, nil)
}

// roomActionPath is the path of RouteRoomAction for a room and action,
// each one path segment whatever it contains.
func roomActionPath(id, action string) string {
	return PathRoom + url.PathEscape(id) + "/" + url.PathEscape(action)
}

// do sends one request with in (if not nil) as its JSON body and decodes
// a 2xx answer into out.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	u := "http://" + c.addr + path
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// A refused dial is what a dead daemon with a stale api file
		// looks like (SIGKILL leaves the file behind).
		if errors.Is(err, syscall.ECONNREFUSED) {
			return &home.NoDaemonError{Home: c.Home, Addr: c.addr, Err: err}
		}
		// url.Error repeats the method and URL; say them once.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, u, err)
	}
	if len(data) > MaxResponseSize {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, u, MaxResponseSize)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e ErrorResponse
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return &APIError{Status: resp.StatusCode, Message: e.Error}
		}
		// Not our daemon's error format: perhaps another program took
		// the port after the daemon died.
		return &APIError{
			Status:  resp.StatusCode,
			Message: fmt.Sprintf("%s %s: unexpected answer %q", method, u, resp.Status),
		}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, u, err)
	}
	return nil
}
