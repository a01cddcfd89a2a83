package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clubnode/clubnode/node/apiv1"
)

// clubnode pass: supporter passes. A pass lets its holder into every room
// of yours marked "supporters" (room create --type supporters). How they
// came to support you (a payment, a subscription) happens outside
// clubnode.

func newPassCommand() *cobra.Command {
	pass := &cobra.Command{
		Use:   "pass",
		Short: "Issue, list and revoke supporter passes (they admit to your supporters' rooms)",
		Long: "A supporter pass is signed by you, lasts until it expires or you revoke it, and is\n" +
			"handed to its holder's node; it lets them into every room you host or created with\n" +
			"--type supporters. Any payment for it happens outside clubnode.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	issue := &cobra.Command{
		Use:   "issue --for PEER [--expires 30d]",
		Short: "Issue a supporter pass to a member and hand it to their node",
		Args:  cobra.NoArgs,
	}
	forPeer := issue.Flags().String("for", "", "the member the pass is for: a peer ID, its start or a name (required)")
	expires := days(30 * 24 * time.Hour)
	issue.Flags().Var(&expires, "expires", "how long the pass lasts: 30d, 12h")
	issue.RunE = func(cmd *cobra.Command, args []string) error {
		p := *forPeer
		if err := checkPeerArg(&p); err != nil {
			return usageError(fmt.Errorf("--for: %w", err))
		}
		if time.Duration(expires) < time.Minute {
			return usageError(fmt.Errorf("--expires must be at least 1m, got %s", expires.String()))
		}
		return call(cmd, func(ctx context.Context, c *apiv1.Client) error {
			holder, err := resolvePeer(ctx, c, p)
			if err != nil {
				return fmt.Errorf("--for: %w", err)
			}
			sp, err := c.IssuePass(ctx, apiv1.IssuePassRequest{For: holder, ExpiresSeconds: int(time.Duration(expires) / time.Second)})
			if err != nil {
				return err
			}
			nm := memberNames(ctx, c)
			return output(cmd, sp, func() string {
				line := fmt.Sprintf("issued supporter pass %s to %s, until %s\n", sp.ID, nm.of(sp.Holder), formatTime(sp.Expires))
				if sp.NotDelivered != "" {
					line += fmt.Sprintf("not handed to their node yet (%s): issue it again while they are online\n", sp.NotDelivered)
				}
				return line
			})
		})
	}
	list := clientCommand("list", "List the passes you issued and those you hold", cobra.NoArgs,
		func(ctx context.Context, c *apiv1.Client, cmd *cobra.Command, args []string) error {
			ps, err := c.Passes(ctx)
			if err != nil {
				return err
			}
			nm := memberNames(ctx, c)
			return output(cmd, ps, func() string { return formatPasses(ps, nm) })
		})
	revoke := clientCommand("revoke ID", "Revoke a pass you issued (pass list shows the IDs): its holder is refused at their next join", cobra.ExactArgs(1),
		func(ctx context.Context, c *apiv1.Client, cmd *cobra.Command, args []string) error {
			sp, err := c.RevokePass(ctx, strings.TrimSpace(args[0]))
			if err != nil {
				return err
			}
			return output(cmd, sp, func() string {
				return fmt.Sprintf("revoked supporter pass %s of %s\n", sp.ID, memberNames(ctx, c).of(sp.Holder))
			})
		})
	pass.AddCommand(issue, list, revoke)
	return pass
}

func formatPasses(ps apiv1.Passes, nm names) string {
	var b strings.Builder
	if len(ps.Issued) == 0 {
		b.WriteString("you have issued no supporter passes\n")
	} else {
		b.WriteString(table([]string{"ID", "HOLDER", "EXPIRES", "REVOKED"}, len(ps.Issued), func(i int) []string {
			p := ps.Issued[i]
			return []string{p.ID, nm.of(p.Holder), formatTime(p.Expires), yesNo(p.Revoked)}
		}))
	}
	if len(ps.Held) == 0 {
		b.WriteString("you hold no supporter passes\n")
	} else {
		b.WriteString("\nheld:\n")
		b.WriteString(table([]string{"ID", "FROM", "EXPIRES"}, len(ps.Held), func(i int) []string {
			p := ps.Held[i]
			return []string{p.ID, nm.of(p.Issuer), formatTime(p.Expires)}
		}))
	}
	return b.String()
}
