package apiv1

import (
	"context"
	"net/http"
	"time"
)

// Endpoints of the browser UI: sign-in, the event stream, settings.
const (
	// PathLogin is outside /api: the browser opens it from the link that
	// `clubnode ui` prints. ?token= carries the one-time login token.
	PathLogin      = "/login"
	PathSession    = "/api/v1/session"             // GET: this browser's session (its CSRF token)
	PathLoginLinks = "/api/v1/session/login-links" // POST (API token only): a one-time login link
	PathLogout     = "/api/v1/session/logout"      // POST: end this browser's session
	PathEvents     = "/api/v1/events"              // GET: the server-sent event stream
	PathSettings   = "/api/v1/settings"            // GET, POST: config file settings
	PathRelations  = "/api/v1/relations"           // GET: whom this node follows and blocks

	RouteLogin       = "GET " + PathLogin
	RouteSession     = "GET " + PathSession
	RouteLoginLinks  = "POST " + PathLoginLinks
	RouteLogout      = "POST " + PathLogout
	RouteEvents      = "GET " + PathEvents
	RouteSettings    = "GET " + PathSettings
	RouteSetSettings = "POST " + PathSettings
	RouteRelations   = "GET " + PathRelations
)

// Names of the events on the stream at PathEvents. Each event's data is
// JSON: identity an Identity, members a []Member, hallway a []Room,
// room a RoomEvent, levels a Levels.
const (
	EventIdentity = "identity"
	EventMembers  = "members"
	EventHallway  = "hallway"
	EventRoom     = "room"
	EventLevels   = "levels"
)

// LoginLink answers POST /api/v1/session/login-links: open URL in a
// browser, once, before Expires.
type LoginLink struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

// SessionInfo answers GET /api/v1/session for a signed-in browser: the
// page sends CSRFToken in the CSRFHeader header on every POST and DELETE.
type SessionInfo struct {
	CSRFHeader string `json:"csrf_header"`
	CSRFToken  string `json:"csrf_token"`
}

// RoomEvent is a room the node takes part in, on the event stream. State
// is nil once the node is no longer in the room (it left, was removed, or
// the room ended); Reason then says why, as far as the node knows.
type RoomEvent struct {
	ID     string     `json:"id"`
	State  *RoomState `json:"state"`
	Reason string     `json:"reason,omitempty"`
	// Removed: a moderator removed this node from the room.
	Removed bool `json:"removed,omitempty"`
}

// Levels is how loud each speaker of a room is right now, 0 (silent) to 1,
// by peer ID. The media side publishes it a few times a second.
type Levels struct {
	Room   string             `json:"room"`
	Levels map[string]float64 `json:"levels"`
}

// Settings answers GET and POST /api/v1/settings: what the config file
// says, and what the running daemon uses. Changes take effect when the
// daemon restarts.
type Settings struct {
	RelayCapacity  int    `json:"relay_capacity"` // as the config file has it
	APIAddr        string `json:"api_addr"`       // as the config file has it
	RunningAPIAddr string `json:"running_api_addr"`
	ConfigPath     string `json:"config_path"`
	// RestartNeeded: something was saved to the file since the daemon
	// started, which it uses from its next start.
	RestartNeeded bool `json:"restart_needed"`
	// InEffect is what the running daemon uses, field by field.
	InEffect SettingsInEffect `json:"in_effect"`
}

// SettingsInEffect is the running daemon's value of each setting, and
// where it comes from.
type SettingsInEffect struct {
	RelayCapacity     int    `json:"relay_capacity"`
	RelayCapacityFrom string `json:"relay_capacity_from"`
	APIAddr           string `json:"api_addr"`
	APIAddrFrom       string `json:"api_addr_from"`
}

// Where a setting in effect comes from.
const (
	FromFile    = "file"    // the config file, as it was when the daemon started
	FromFlag    = "flag"    // the daemon's command line, which overrides the file
	FromDefault = "default" // neither: clubnode's default
)

// SetSettingsRequest is the body of POST /api/v1/settings; absent fields
// stay as they are.
type SetSettingsRequest struct {
	RelayCapacity *int    `json:"relay_capacity,omitempty"`
	APIAddr       *string `json:"api_addr,omitempty"`
}

// Relations answers GET /api/v1/relations: the peer IDs this node
// follows and blocks.
type Relations struct {
	Follows []string `json:"follows"`
	Blocks  []string `json:"blocks"`
}

// LoginLink asks the daemon for a one-time browser login link.
func (c *Client) LoginLink(ctx context.Context) (LoginLink, error) {
	var out LoginLink
	err := c.do(ctx, http.MethodPost, PathLoginLinks, struct{}{}, &out)
	return out, err
}

// Settings returns the settings in the daemon's config file.
func (c *Client) Settings(ctx context.Context) (Settings, error) {
	var out Settings
	err := c.do(ctx, http.MethodGet, PathSettings, nil, &out)
	return out, err
}

// SetSettings changes settings in the daemon's config file, for its next
// start.
func (c *Client) SetSettings(ctx context.Context, req SetSettingsRequest) (Settings, error) {
	var out Settings
	err := c.do(ctx, http.MethodPost, PathSettings, req, &out)
	return out, err
}

// Relations returns whom the node follows and blocks.
func (c *Client) Relations(ctx context.Context) (Relations, error) {
	var out Relations
	err := c.do(ctx, http.MethodGet, PathRelations, nil, &out)
	return out, err
}
