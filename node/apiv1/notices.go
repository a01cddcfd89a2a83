package apiv1

import "time"

// Reminders: a scheduled room this node wants a notice of when it starts.
const (
	PathReminders = "/api/v1/reminders" // POST: ask for, or drop, a room's reminder
	RouteRemind   = "POST " + PathReminders
)

// RemindRequest is the body of POST /api/v1/reminders: On true asks for
// a notice when Room starts, false drops it.
type RemindRequest struct {
	Room string `json:"room"`
	On   bool   `json:"on"`
}

// EventNotices is the event whose data is a []Notice: what the node
// thinks worth telling its user, newest last. The web app shows the ones
// it has not shown as the browser's notifications, if the user asked for
// them.
const EventNotices = "notices"

// Kinds of notice.
const (
	NoticeRoomStarted = "room-started" // a member this node follows started a room
	NoticeOnStage     = "on-stage"     // a member this node follows went on a room's stage
	NoticeReminder    = "reminder"     // a room this node asked to be reminded of started
)

// Notice is one thing worth a notification.
type Notice struct {
	ID    string    `json:"id"` // unique for the daemon's lifetime and across restarts
	Time  time.Time `json:"time"`
	Kind  string    `json:"kind"`
	Room  string    `json:"room"`
	Title string    `json:"title"` // what the notification says first
	Body  string    `json:"body"`
}
