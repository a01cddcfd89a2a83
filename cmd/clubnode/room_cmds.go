package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/rooms"
)

// The room commands and follow/block. Every room subcommand takes the
// room ID first; its arguments are checked before the daemon is asked, so
// a swapped or mistyped argument fails with a clear message.

// roomCommands returns room and its subcommands, and follow, unfollow,
// block and unblock.
func roomCommands() []*cobra.Command {
	return append(newFollowCommands(), newRoomCommand())
}

func newRoomCommand() *cobra.Command {
	room := &cobra.Command{
		Use:   "room",
		Short: "Create, list, join and run live audio rooms",
		Long: "Create, list, join and run live audio rooms. Every subcommand but\n" +
			"create and list takes the room ID first (clubnode room list shows it).",
		// Runnable, so that a mistyped subcommand is an error rather than
		// the help text and success.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	room.AddCommand(newRoomCreateCommand(), newRoomListCommand(), newRoomShowCommand(),
		newRoomJoinCommand(), newRoomHandCommand(), newRoomMuteCommand(), newRoomTicketCommand())
	for _, a := range roomActions {
		room.AddCommand(newRoomActionCommand(a))
	}
	return room
}

// newFollowCommands returns follow, unfollow, block and unblock.
func newFollowCommands() []*cobra.Command {
	return []*cobra.Command{
		newFollowCommand("follow PEER_ID", "Follow a member: you see their social rooms and they can join yours", true,
			(*apiv1.Client).Follow, "following %s\n"),
		newFollowCommand("unfollow PEER_ID", "Stop following a member", false,
			(*apiv1.Client).Follow, "no longer following %s\n"),
		newFollowCommand("block PEER_ID", "Block a member: they cannot join rooms you moderate and their rooms leave your hallway", true,
			(*apiv1.Client).Block, "blocked %s\n"),
		newFollowCommand("unblock PEER_ID", "Unblock a member", false,
			(*apiv1.Client).Block, "unblocked %s\n"),
	}
}

func newFollowCommand(use, short string, on bool, send func(*apiv1.Client, context.Context, string, bool) error, done string) *cobra.Command {
	return clientCommand(use, short, checkArgs(1, 1, func(args []string) error { return checkPeerArg(&args[0]) }),
		func(ctx context.Context, c *apiv1.Client, cmd *cobra.Command, args []string) error {
			p, err := resolvePeer(ctx, c, args[0])
			if err != nil {
				return err
			}
			if err := send(c, ctx, p, on); err != nil {
				return err
			}
			// The API answers nothing of interest; --json prints
			// what was set.
			req := apiv1.FollowRequest{Peer: p, On: on}
			return output(cmd, req, func() string { return fmt.Sprintf(done, p) })
		})
}

func newRoomCreateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --title TITLE [--type open|social|closed|supporters] [--at TIME]",
		Short: "Start a room now, or schedule one with --at; you are its host",
		Long: "Start a room now, or schedule one with --at; you are its host and a\n" +
			"moderator. An open room is for any member, a social room for people you\n" +
			"follow, a closed room for holders of a ticket (clubnode room ticket), a\n" +
			"supporters' room for holders of your supporter pass (clubnode pass issue).\n" +
			"--at is an RFC 3339 time, seconds optional: 2026-12-01T20:00Z or\n" +
			"2026-12-01T21:00:00+01:00.",
		Args: cobra.NoArgs,
	}
	title := cmd.Flags().String("title", "", "the room's title (required)")
	typ := cmd.Flags().String("type", "open", "who may find and join it: open, social, closed or supporters")
	at := cmd.Flags().String("at", "", "schedule the room for this time instead of starting it now")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		req, err := createRoomRequest(*title, *typ, *at, cmd.Flags().Changed("at"), time.Now())
		if err != nil {
			return err
		}
		return call(cmd, func(ctx context.Context, c *apiv1.Client) error {
			st, err := c.CreateRoom(ctx, req)
			if err != nil {
				return err
			}
			return output(cmd, st, func() string { return formatCreated(st) })
		})
	}
	return cmd
}

// createRoomRequest checks the flags of room create.
func createRoomRequest(title, typ, at string, atSet bool, now time.Time) (apiv1.CreateRoomRequest, error) {
	var req apiv1.CreateRoomRequest
	title = strings.TrimSpace(title)
	if title == "" {
		return req, errors.New("give the room a title with --title")
	}
	if n := utf8.RuneCountInString(title); n > rooms.MaxTitleLength {
		return req, fmt.Errorf("--title is %d characters long, the limit is %d", n, rooms.MaxTitleLength)
	}
	if _, err := rooms.ParseRoomType(typ); err != nil {
		return req, fmt.Errorf("--type %q: want open, social, closed or supporters", typ)
	}
	req.Title, req.Type = title, typ
	if atSet {
		start, err := parseStart(at)
		if err != nil {
			return req, err
		}
		if !start.After(now) {
			return req, fmt.Errorf("--at %s is in the past; leave --at out to start the room now", at)
		}
		if start.Sub(now) > rooms.MaxScheduleAhead {
			return req, fmt.Errorf("--at %s is more than %d days ahead", at, rooms.MaxScheduleAhead/(24*time.Hour))
		}
		req.Start = start.UTC()
	}
	return req, nil
}

// parseStart reads an RFC 3339 time, with or without seconds.
func parseStart(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--at %q: want a time like 2026-12-01T20:00Z or 2026-12-01T21:00:00+01:00", s)
}

func newRoomListCommand() *cobra.Command {
	return clientCommand("list", "List the rooms in your hallway: live rooms and scheduled ones", cobra.NoArgs,
		func(ctx context.Context, c *apiv1.Client, cmd *cobra.Command, args []string) error {
			nm := memberNames(ctx, c)
			list, err := c.Hallway(ctx)
			if err != nil {
				return err
			}
			type named struct {
				apiv1.Room
				Names map[string]string `json:"names"`
			}
			out := make([]named, 0, len(list))
			for _, r := range list {
				out = append(out, named{r, nm.pick(append([]string{r.Host}, r.Speakers...)...)})
			}
			return output(cmd, out, func() string { return formatHallway(list, nm) })
		})
}

func newRoomShowCommand() *cobra.Command {
	return clientCommand("show ROOM", "Show a room: the stage, the audience, raised hands and your role", checkArgs(1, 1, roomArgs),
		func(ctx context.Context, c *apiv1.Client, cmd *cobra.Command, args []string) error {
			room, err := resolveRoom(ctx, c, args[0])
			if err != nil {
				return err
			}
			nm := memberNames(ctx, c)
			st, err := c.Room(ctx, room)
			if err != nil {
				return err
			}
			v := struct {
				apiv1.RoomState
				Names map[string]string `json:"names"`
			}{st, nm.pick(roomPeople(st)...)}
			return output(cmd, v, func() string { return formatRoomState(st, nm) })
		})
}

func newRoomJoinCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "join ROOM [--ticket TICKET]",
		Short: "Join a room as a listener (a closed room needs a ticket from its host)",
		Args:  checkArgs(1, 1, roomArgs),
	}
	ticket := cmd.Flags().String("ticket", "", "a ticket to the room, from clubnode room ticket (a ticket the host's node\n"+
		"delivered, or one given here before, is presented by itself)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		req := apiv1.RoomActionRequest{Ticket: strings.TrimSpace(*ticket)}
		if cmd.Flags().Changed("ticket") && req.Ticket == "" {
			return errors.New("--ticket is empty")
		}
		return sendRoomAction(cmd, args[0], apiv1.ActionJoin, req, func(st apiv1.RoomState) string {
			return fmt.Sprintf("joined %q (%s) as %s\n", clean(st.Title), args[0], orDash(st.Role))
		})
	}
	return cmd
}

func newRoomHandCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "hand ROOM up|down",
		Short: "Raise or lower your hand to ask to speak",
		Args: checkArgs(2, 2, func(args []string) error {
			if err := checkRoomArg(&args[0]); err != nil {
				return err
			}
			if args[1] != "up" && args[1] != "down" {
				return fmt.Errorf("hand %q: want up or down", args[1])
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			action, done := apiv1.ActionHandUp, "raised your hand in %s\n"
			if args[1] == "down" {
				action, done = apiv1.ActionHandDown, "lowered your hand in %s\n"
			}
			return sendRoomAction(cmd, args[0], action, apiv1.RoomActionRequest{}, func(apiv1.RoomState) string {
				return fmt.Sprintf(done, args[0])
			})
		},
	}
}

func newRoomMuteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "mute ROOM [PEER_ID]",
		Short: "Mute yourself, or as a moderator mute a speaker",
		Args:  checkArgs(1, 2, roomArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req apiv1.RoomActionRequest
			who := "yourself"
			if len(args) == 2 {
				req.Peer, who = args[1], args[1]
			}
			return sendRoomAction(cmd, args[0], apiv1.ActionMute, req, func(apiv1.RoomState) string {
				return fmt.Sprintf("muted %s in %s\n", who, args[0])
			})
		},
	}
}

func newRoomTicketCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ticket ROOM --for PEER_ID",
		Short: "Issue a ticket to a closed room for one member (prints the ticket)",
		Long: "Issue a ticket to a closed room for one member, valid for a week. Their\n" +
			"node gets it at once if it is reachable: the room then shows in their\n" +
			"hallway and their room join presents it. Otherwise give them the printed\n" +
			"ticket: clubnode room join ROOM --ticket TICKET.",
		Args: checkArgs(1, 1, roomArgs),
	}
	forPeer := cmd.Flags().String("for", "", "the member the ticket is for (required)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *forPeer == "" {
			return errors.New("say whom the ticket is for with --for PEER_ID")
		}
		p := *forPeer
		if err := checkPeerArg(&p); err != nil {
			return fmt.Errorf("--for: %w", err)
		}
		return call(cmd, func(ctx context.Context, c *apiv1.Client) error {
			room, err := resolveRoom(ctx, c, args[0])
			if err != nil {
				return err
			}
			if p, err = resolvePeer(ctx, c, p); err != nil {
				return fmt.Errorf("--for: %w", err)
			}
			tk, err := c.RoomTicket(ctx, room, p)
			if err != nil {
				return err
			}
			if !tk.Delivered {
				// On stderr: stdout stays just the ticket for scripts.
				fmt.Fprintf(cmd.ErrOrStderr(), "could not hand the ticket to %s's node (%s);\n"+
					"give them the ticket: clubnode room join %s --ticket TICKET\n", p, tk.NotDelivered, args[0])
			}
			// Just the ticket, so scripts can use $(clubnode room ticket ...).
			return output(cmd, tk, func() string { return tk.Ticket + "\n" })
		})
	}
	return cmd
}

// roomAction is a room subcommand that sends one action, with a peer
// argument or none, and says in one line what it did.
type roomAction struct {
	use    string // the subcommand and its arguments; PEER_ID means it takes a peer
	short  string
	action string
	done   string // what it did: Sprintf'd with the room, or the peer and the room
}

var roomActions = []roomAction{
	{"leave ROOM", "Leave a room", apiv1.ActionLeave, "left %s\n"},
	{"invite-speaker ROOM PEER_ID", "Invite someone onto the stage (moderators and speakers)", apiv1.ActionInviteSpeaker, "invited %s to speak in %s\n"},
	{"move-to-audience ROOM PEER_ID", "Move a speaker back to the audience (moderators)", apiv1.ActionMoveToAudience, "moved %s to the audience of %s\n"},
	{"unmute ROOM", "Unmute yourself", apiv1.ActionUnmute, "unmuted yourself in %s\n"},
	{"remove ROOM PEER_ID", "Remove someone from a room and ban them from it (moderators)", apiv1.ActionRemove, "removed %s from %s; they cannot rejoin it\n"},
	{"make-moderator ROOM PEER_ID", "Make a speaker a moderator (moderators)", apiv1.ActionMakeModerator, "made %s a moderator of %s\n"},
	{"step-down ROOM", "Leave the stage for the audience", apiv1.ActionStepDown, "stepped down to the audience of %s\n"},
	{"accept ROOM", "Accept an invitation to speak", apiv1.ActionAccept, "accepted: you are on the stage of %s\n"},
	{"decline ROOM", "Decline an invitation to speak", apiv1.ActionDecline, "declined the invitation to speak in %s\n"},
	{"end ROOM", "End a room for everyone (moderators)", apiv1.ActionEnd, "ended %s\n"},
}

func newRoomActionCommand(a roomAction) *cobra.Command {
	withPeer := strings.HasSuffix(a.use, " PEER_ID")
	n := 1
	if withPeer {
		n = 2
	}
	return &cobra.Command{
		Use:   a.use,
		Short: a.short,
		Args:  checkArgs(n, n, roomArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req apiv1.RoomActionRequest
			done := fmt.Sprintf(a.done, args[0])
			if withPeer {
				req.Peer = args[1]
				done = fmt.Sprintf(a.done, args[1], args[0])
			}
			return sendRoomAction(cmd, args[0], a.action, req, func(apiv1.RoomState) string { return done })
		},
	}
}

// sendRoomAction sends an action and prints the room's new state under
// --json, or else what done says.
func sendRoomAction(cmd *cobra.Command, room, action string, req apiv1.RoomActionRequest, done func(apiv1.RoomState) string) error {
	return call(cmd, func(ctx context.Context, c *apiv1.Client) error {
		room, err := resolveRoom(ctx, c, room)
		if err != nil {
			return err
		}
		if req.Peer != "" {
			if req.Peer, err = resolvePeer(ctx, c, req.Peer); err != nil {
				return err
			}
		}
		st, err := c.RoomAction(ctx, room, action, req)
		if err != nil {
			return err
		}
		return output(cmd, st, func() string { return done(st) })
	})
}

// checkArgs makes a cobra.PositionalArgs that wants between min and max
// arguments and then runs check, which may rewrite them in canonical form.
func checkArgs(min, max int, check func(args []string) error) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return fmt.Errorf("wrong number of arguments (%d); usage: %s", len(args), strings.TrimSuffix(cmd.UseLine(), " [flags]"))
		}
		return check(args)
	}
}

// roomArgs checks a room ID followed, optionally, by a peer ID.
func roomArgs(args []string) error {
	if err := checkRoomArg(&args[0]); err != nil {
		return err
	}
	if len(args) > 1 {
		return checkPeerArg(&args[1])
	}
	return nil
}

func formatCreated(st apiv1.RoomState) string {
	var b strings.Builder
	if st.Status == "scheduled" {
		fmt.Fprintf(&b, "scheduled %s room %q for %s\n", st.Type, clean(st.Title), formatTime(st.Start))
	} else {
		fmt.Fprintf(&b, "started %s room %q\n", st.Type, clean(st.Title))
	}
	field(&b, "id", st.ID)
	return b.String()
}

func formatHallway(list []apiv1.Room, nm names) string {
	if len(list) == 0 {
		return "no rooms in your hallway\n"
	}
	return table([]string{"ID", "TITLE", "TYPE", "STATUS", "HOST", "SPEAKERS", "LISTENERS", "START"}, len(list), func(i int) []string {
		r := list[i]
		return []string{r.ID, clean(r.Title), r.Type, r.Status, nm.of(r.Host),
			fmt.Sprint(len(r.Speakers)), fmt.Sprint(r.Listeners), formatTime(r.Start)}
	})
}

// roomPeople is everyone a room's state names.
func roomPeople(st apiv1.RoomState) []string {
	ps := []string{st.Host}
	for _, s := range st.Stage {
		ps = append(ps, s.PeerID)
	}
	ps = append(ps, st.Audience...)
	ps = append(ps, st.Hands...)
	return append(ps, st.Invited...)
}

func formatRoomState(st apiv1.RoomState, nm names) string {
	var b strings.Builder
	field(&b, "room", st.ID)
	field(&b, "title", clean(st.Title))
	field(&b, "type", st.Type)
	field(&b, "status", st.Status)
	field(&b, "host", orDash(nm.of(st.Host)))
	field(&b, "start", formatTime(st.Start))
	field(&b, "listeners", fmt.Sprint(st.Listeners))
	field(&b, "your role", orDash(st.Role))

	fmt.Fprintf(&b, "stage (%d):\n", len(st.Stage))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, s := range st.Stage {
		var marks []string
		if s.PeerID == st.Host {
			marks = append(marks, "host")
		}
		if s.Moderator {
			marks = append(marks, "moderator")
		}
		if s.Muted {
			marks = append(marks, "muted")
		}
		if len(marks) == 0 {
			// No tab: a line's last cell is not padded.
			fmt.Fprintf(tw, "  %s\n", nm.of(s.PeerID))
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\n", nm.of(s.PeerID), strings.Join(marks, ", "))
	}
	tw.Flush() // writes to a strings.Builder cannot fail
	peerList(&b, "audience", st.Audience, nm)
	peerList(&b, "raised hands", st.Hands, nm)
	peerList(&b, "invited", st.Invited, nm)
	return b.String()
}

// peerList appends a labelled list of people, one a line.
func peerList(b *strings.Builder, label string, peers []string, nm names) {
	fmt.Fprintf(b, "%s (%d):\n", label, len(peers))
	for _, p := range peers {
		b.WriteString("  " + nm.of(p) + "\n")
	}
}

// formatTime shows a room's start in local time, "-" when it has none.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04 MST")
}
