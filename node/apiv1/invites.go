package apiv1

import (
	"context"
	"net/http"
	"time"
)

// Invite inspection and drawing.
const (
	PathInspectInvite = "/api/v1/invites/inspect"
	PathInviteQR      = "/api/v1/invites/qr"

	RouteInspectInvite = "POST " + PathInspectInvite
	RouteInviteQR      = "POST " + PathInviteQR
)

// InspectInviteRequest is the body of POST /api/v1/invites/inspect and of
// POST /api/v1/invites/qr: a token, a short token or a link carrying one.
type InspectInviteRequest struct {
	Token string `json:"token"`
}

// InvitePreview says what an invite is before anyone joins with it. For
// a short token the inviter's node is asked (it holds the chain and counts
// the uses); Online is false when it could not be reached, and the fields
// only it knows are then empty, with Unreachable saying why.
type InvitePreview struct {
	// Token is the invite in the form to paste, found in what was given.
	Token       string    `json:"token"`
	InviterID   string    `json:"inviter_id"`
	InviterName string    `json:"inviter_name"`
	Network     Network   `json:"network"`
	Expires     time.Time `json:"expires"`
	Expired     bool      `json:"expired"`
	Uses        int       `json:"uses"`
	// UsesLeft is -1 when the inviter's node was not asked or not reached.
	UsesLeft int `json:"uses_left"`
	// For is the peer ID a bound invite is for; ForYou says whether that
	// is this node.
	For         string `json:"for,omitempty"`
	ForYou      bool   `json:"for_you,omitempty"`
	Online      bool   `json:"online"`
	Unreachable string `json:"unreachable,omitempty"`
}

// InviteQR is an invite's QR code drawn by the node: an SVG image of Text.
type InviteQR struct {
	Text string `json:"text"`
	SVG  string `json:"svg"`
}

// InspectInvite asks the node what an invite is, without joining.
func (c *Client) InspectInvite(ctx context.Context, token string) (InvitePreview, error) {
	var out InvitePreview
	err := c.do(ctx, http.MethodPost, PathInspectInvite, InspectInviteRequest{Token: token}, &out)
	return out, err
}

// InviteQR asks the node to draw an invite's QR code.
func (c *Client) InviteQR(ctx context.Context, token string) (InviteQR, error) {
	var out InviteQR
	err := c.do(ctx, http.MethodPost, PathInviteQR, InspectInviteRequest{Token: token}, &out)
	return out, err
}
