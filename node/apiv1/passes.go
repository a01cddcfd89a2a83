package apiv1

import (
	"context"
	"net/http"
	"time"
)

// Supporter passes: a host's pass lets its holder into every room the
// host marks "supporters" (room type), until it expires or is revoked.
const (
	PathPasses      = "/api/v1/passes"
	PathRevokePass  = "/api/v1/passes/revoke"
	RoutePasses     = "GET " + PathPasses
	RouteIssuePass  = "POST " + PathPasses
	RouteRevokePass = "POST " + PathRevokePass
)

// IssuePassRequest is the body of POST /api/v1/passes. The answer is a
// SupporterPass.
type IssuePassRequest struct {
	For            string `json:"for"`
	ExpiresSeconds int    `json:"expires_seconds"`
}

// RevokePassRequest is the body of POST /api/v1/passes/revoke: the pass's
// ID, as the list shows it. The answer is the revoked SupporterPass.
type RevokePassRequest struct {
	ID string `json:"id"`
}

// SupporterPass is one pass, issued by this node or held by it.
type SupporterPass struct {
	ID      string    `json:"id"`
	Holder  string    `json:"holder"`
	Issuer  string    `json:"issuer"`
	Expires time.Time `json:"expires"`
	Revoked bool      `json:"revoked,omitempty"`
	// NotDelivered says why the holder's node did not get the pass now;
	// it gets it when the issuer issues it again while the holder is
	// reachable.
	NotDelivered string `json:"not_delivered,omitempty"`
}

// Passes answers GET /api/v1/passes.
type Passes struct {
	Issued []SupporterPass `json:"issued"`
	Held   []SupporterPass `json:"held"`
}

// IssuePass signs a supporter pass and hands it to the holder's node.
func (c *Client) IssuePass(ctx context.Context, req IssuePassRequest) (SupporterPass, error) {
	var out SupporterPass
	err := c.do(ctx, http.MethodPost, PathPasses, req, &out)
	return out, err
}

// Passes lists the passes this node issued and holds.
func (c *Client) Passes(ctx context.Context) (Passes, error) {
	var out Passes
	err := c.do(ctx, http.MethodGet, PathPasses, nil, &out)
	return out, err
}

// RevokePass withdraws a pass this node issued.
func (c *Client) RevokePass(ctx context.Context, id string) (SupporterPass, error) {
	var out SupporterPass
	err := c.do(ctx, http.MethodPost, PathRevokePass, RevokePassRequest{ID: id}, &out)
	return out, err
}
