package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/clubnode/clubnode/node/apiv1"
)

// addClientCommands adds the commands that drive a running daemon.
func addClientCommands(root *cobra.Command) {
	root.AddCommand(
		newIDCommand(),
		newNetworkCommand(),
		newInviteCommand(),
		newJoinCommand(),
		newMembersCommand(),
		newProfileCommand(),
		newRevokeCommand(),
		newPeersCommand(),
	)
	root.AddCommand(roomCommands()...)
	root.AddCommand(newSpeakCommand(), newListenCommand(), newPassCommand())
}

// call runs fn with a client for the command's daemon and a context
// bounded by requestTimeout.
func call(cmd *cobra.Command, fn func(ctx context.Context, c *apiv1.Client) error) error {
	c, err := clientOf(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
	defer cancel()
	return fn(ctx, c)
}

func newIDCommand() *cobra.Command {
	return clientCommand("id", "Show this node's peer ID, name, addresses and network", cobra.NoArgs,
		func(ctx context.Context, c *apiv1.Client, cmd *cobra.Command, args []string) error {
			id, err := c.ID(ctx)
			if err != nil {
				return err
			}
			return output(cmd, id, func() string { return formatIdentity(id) })
		})
}

func newNetworkCommand() *cobra.Command {
	network := &cobra.Command{
		Use:   "network",
		Short: "Found a network",
	}
	network.AddCommand(clientCommand("create NAME", "Found a new invite-only network with this node as its founder", cobra.ExactArgs(1),
		func(ctx context.Context, c *apiv1.Client, cmd *cobra.Command, args []string) error {
			n, err := c.CreateNetwork(ctx, args[0])
			if err != nil {
				return err
			}
			return output(cmd, n, func() string {
				return fmt.Sprintf("founded network %s\nid: %s\n", clean(n.Name), n.ID)
			})
		}))
	return network
}

func newInviteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "invite",
		Short: "Issue an invite token (prints the token), or inspect one",
		Long: "Issue an invite token into this node's network. Without --for it is a short\n" +
			"bearer token (clubnode:…) redeemed online at this node, which counts its uses;\n" +
			"with --for it is bound to one peer ID, carries its certificate and can be\n" +
			"redeemed offline (it is longer: clubnode-invite:…).",
		Args: cobra.NoArgs,
	}
	uses := cmd.Flags().Int("uses", 1, "how many nodes may join with the token")
	expires := days(72 * time.Hour)
	cmd.Flags().Var(&expires, "expires", "how long the token stays valid: 3d, 12h, 90m")
	forPeer := cmd.Flags().String("for", "", "bind the token to this peer ID")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		// Checked here too so a typo fails before any daemon is needed.
		if *uses < 1 {
			return usageError(fmt.Errorf("--uses must be at least 1, got %d", *uses))
		}
		if time.Duration(expires) < time.Second {
			return usageError(fmt.Errorf("--expires must be at least 1s, got %s", expires.String()))
		}
		req := apiv1.CreateInviteRequest{
			Uses:           *uses,
			ExpiresSeconds: int(time.Duration(expires) / time.Second),
			For:            *forPeer,
		}
		return call(cmd, func(ctx context.Context, c *apiv1.Client) error {
			inv, err := c.CreateInvite(ctx, req)
			if err != nil {
				return err
			}
			// Just the token, so scripts can use $(clubnode invite).
			return output(cmd, inv, func() string { return inv.Token + "\n" })
		})
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "inspect TOKEN",
		Short: "Show who invites you to which network, until when, and the uses left, without joining",
		Long: "inspect reads an invite token (either form, or a link that carries one) and asks the\n" +
			"inviter's node what only it knows: the network's name, the inviter's name and the uses left.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return inspectInvite(cmd, args[0]) },
	})
	return cmd
}

// inspectInvite prints what an invite is.
func inspectInvite(cmd *cobra.Command, token string) error {
	return call(cmd, func(ctx context.Context, c *apiv1.Client) error {
		pv, err := c.InspectInvite(ctx, token)
		if err != nil {
			return err
		}
		return output(cmd, pv, func() string { return formatPreview(pv, time.Now()) })
	})
}

func newJoinCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "join TOKEN",
		Short: "Join a network with an invite token or link",
		Long: "Join a network with an invite token (clubnode:… or clubnode-invite:…) or a link that\n" +
			"carries one. A bearer token is redeemed at the inviter's node; while that node cannot be\n" +
			"reached, join tries again with backoff for up to --wait, saying each time what it is waiting\n" +
			"for. --dry-run only shows what the invite is, as clubnode invite inspect does.",
		Args: cobra.ExactArgs(1),
	}
	wait := cmd.Flags().Duration("wait", time.Minute, "how long to keep trying to reach the inviter")
	dryRun := cmd.Flags().Bool("dry-run", false, "show who invites you to which network, and do not join")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *dryRun {
			return inspectInvite(cmd, args[0])
		}
		c, err := clientOf(cmd)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), *wait+requestTimeout)
		defer cancel()
		res, err := joinWithRetry(ctx, cmd, c, args[0], *wait)
		if err != nil {
			return err
		}
		return output(cmd, res, func() string { return formatJoin(res) })
	}
	return cmd
}

// joinWithRetry asks the daemon to join, and while the inviter is out of
// reach (the daemon answers 502: a busy inviter, a network not up yet)
// tries again with doubling pauses until wait has passed.
func joinWithRetry(ctx context.Context, cmd *cobra.Command, c *apiv1.Client, token string, wait time.Duration) (apiv1.JoinResult, error) {
	deadline := time.Now().Add(wait)
	pause := time.Second
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, requestTimeout)
		res, err := c.Join(actx, token)
		cancel()
		var apiErr *apiv1.APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadGateway || time.Now().Add(pause).After(deadline) {
			return res, err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "waiting for the inviter's node (attempt %d): %v; trying again in %s\n", attempt, err, pause)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 15*time.Second)
	}
}

func newMembersCommand() *cobra.Command {
	return clientCommand("members", "List the members of the network known to this node", cobra.NoArgs,
		func(ctx context.Context, c *apiv1.Client, cmd *cobra.Command, args []string) error {
			members, err := c.Members(ctx)
			if err != nil {
				return err
			}
			nm := names{}
			for _, m := range members {
				nm[m.PeerID] = m.Name
			}
			return output(cmd, members, func() string { return formatMembers(members, nm) })
		})
}

func newProfileCommand() *cobra.Command {
	profile := &cobra.Command{
		Use:   "profile",
		Short: "Show a member's profile or set your own",
	}
	profile.AddCommand(clientCommand("show PEER", "Show a member's profile, including who invited them (PEER: an ID, its start or a name)", checkArgs(1, 1, func(args []string) error { return checkPeerArg(&args[0]) }),
		func(ctx context.Context, c *apiv1.Client, cmd *cobra.Command, args []string) error {
			p, err := resolvePeer(ctx, c, args[0])
			if err != nil {
				return err
			}
			m, err := c.Profile(ctx, p)
			if err != nil {
				return err
			}
			return output(cmd, m, func() string { return formatMember(m) })
		}))

	set := &cobra.Command{
		Use:   "set [--name NAME] [--bio BIO]",
		Short: "Set your name and bio (a flag left out keeps its value)",
		Args:  cobra.NoArgs,
	}
	name := set.Flags().String("name", "", "your display name")
	bio := set.Flags().String("bio", "", "a line about you")
	set.RunE = func(cmd *cobra.Command, args []string) error {
		nameSet, bioSet := cmd.Flags().Changed("name"), cmd.Flags().Changed("bio")
		if !nameSet && !bioSet {
			return errors.New("nothing to set: give --name, --bio or both")
		}
		return call(cmd, func(ctx context.Context, c *apiv1.Client) error {
			req := apiv1.SetProfileRequest{Name: *name, Bio: *bio}
			// The API sets name and bio together; fill in the one the
			// user left out so that it is kept rather than erased.
			if !nameSet || !bioSet {
				cur, err := currentProfile(ctx, c)
				if err != nil {
					return err
				}
				if !nameSet {
					req.Name = cur.Name
				}
				if !bioSet {
					req.Bio = cur.Bio
				}
			}
			m, err := c.SetProfile(ctx, req)
			if err != nil {
				return err
			}
			return output(cmd, m, func() string { return formatMember(m) })
		})
	}
	profile.AddCommand(set)
	return profile
}

// currentProfile reads this node's own profile.
func currentProfile(ctx context.Context, c *apiv1.Client) (apiv1.Member, error) {
	id, err := c.ID(ctx)
	if err != nil {
		return apiv1.Member{}, err
	}
	m, err := c.Profile(ctx, id.PeerID)
	if err != nil {
		return apiv1.Member{}, fmt.Errorf("read your current profile (give both --name and --bio to skip this): %w", err)
	}
	return m, nil
}

func newRevokeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke PEER",
		Short: "Revoke a member you (or someone you invited) brought in (PEER: an ID, its start or a name)",
		Args:  checkArgs(1, 1, func(args []string) error { return checkPeerArg(&args[0]) }),
	}
	withInvitees := cmd.Flags().Bool("with-invitees", false, "also revoke everyone the member invited")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return call(cmd, func(ctx context.Context, c *apiv1.Client) error {
			p, err := resolvePeer(ctx, c, args[0])
			if err != nil {
				return err
			}
			rv, err := c.Revoke(ctx, apiv1.RevokeRequest{Peer: p, WithInvitees: *withInvitees})
			if err != nil {
				return err
			}
			return output(cmd, rv, func() string { return formatRevocation(rv) })
		})
	}
	return cmd
}

func newPeersCommand() *cobra.Command {
	return clientCommand("peers", "List the peers this node is connected to", cobra.NoArgs,
		func(ctx context.Context, c *apiv1.Client, cmd *cobra.Command, args []string) error {
			peers, err := c.Peers(ctx)
			if err != nil {
				return err
			}
			nm := memberNames(ctx, c)
			type named struct {
				apiv1.Peer
				Name string `json:"name"`
			}
			out := make([]named, 0, len(peers))
			for _, p := range peers {
				out = append(out, named{p, nm[p.PeerID]})
			}
			return output(cmd, out, func() string { return formatPeers(peers, nm) })
		})
}

// clientCommand is a command that asks the daemon: run gets a client and
// a context bounded by requestTimeout, as call gives them.
func clientCommand(use, short string, args cobra.PositionalArgs,
	run func(ctx context.Context, c *apiv1.Client, cmd *cobra.Command, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, func(ctx context.Context, c *apiv1.Client) error { return run(ctx, c, cmd, args) })
		},
	}
}
