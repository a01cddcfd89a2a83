package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/spf13/cobra"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/node/apiv1"
)

// speak and listen attach to the daemon with WHIP and WHEP, exactly as the
// browser does, and do the PCM work (files, Opus) on this side.

func newSpeakCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "speak ROOM --input FILE",
		Short: "Speak a WAV, Ogg Opus or raw PCM file into a room, in real time",
		Long: "Speak a file into a room you are on stage in, in real time, until the file\n" +
			"ends or Ctrl-C. --input takes a WAV (any common rate and channels), an Ogg\n" +
			"Opus file, or - for 48 kHz 16-bit mono PCM on standard input.",
		Args: checkArgs(1, 1, roomArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			input, _ := cmd.Flags().GetString("input")
			if input == "" {
				return errors.New("speak needs --input FILE (or - for raw PCM on standard input)")
			}
			src, closer, err := audio.OpenSource(input, cmd.InOrStdin())
			if err != nil {
				return err
			}
			defer closer.Close()
			c, api, room, err := attach(cmd.Context(), cmd, args[0])
			if err != nil {
				return err
			}
			wc, err := rtc.DialWHIP(cmd.Context(), api, c.MediaURL(room, apiv1.WHIP), c.AuthHeader())
			if err != nil {
				return fmt.Errorf("speak in %s: %w", room, mediaError(err))
			}
			defer wc.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "speaking into %s (Ctrl-C stops)\n", room)
			// Speaking stops when the room ends or this node leaves the
			// stage: the watcher cancels with the reason.
			ctx, stop := context.WithCancelCause(cmd.Context())
			defer stop(nil)
			watchers := group.New(ctx)
			defer watchers.Close()
			watchers.Go(func(ctx context.Context) { watchStage(ctx, stop, c, room, wc.Done()) })
			n, err := speakFrames(ctx, src, wc)
			fmt.Fprintf(cmd.ErrOrStderr(), "spoke %s into %s\n", (time.Duration(n) * audio.FrameDuration).Round(time.Millisecond), room)
			if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
				return cause
			}
			return err
		},
	}
	cmd.Flags().String("input", "", "audio to speak: .wav, .ogg/.opus, or - for raw 48 kHz s16le mono on stdin")
	return cmd
}

// stageCheckInterval is how often speak asks the daemon whether it is
// still on stage in a live room.
const stageCheckInterval = 2 * time.Second

// watchStage stops speaking, with a reason, when the room ends or is
// gone, when this node is no longer on its stage, or when the daemon ends
// the session (it does when the room's audio stops here).
func watchStage(ctx context.Context, stop context.CancelCauseFunc, c *apiv1.Client, room string, sessionDone <-chan struct{}) {
	tick := time.NewTicker(stageCheckInterval)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-sessionDone:
			// Say why, if the room's state tells.
			if reason, err := offStage(ctx, c, room); err == nil && reason != nil {
				stop(reason)
			} else {
				stop(fmt.Errorf("the daemon ended the speaking session in %s (the room ended, or you left its stage): stopped speaking", room))
			}
			return
		case <-tick.C:
		}
		reason, err := offStage(ctx, c, room)
		switch {
		case ctx.Err() != nil:
			return
		case reason != nil:
			stop(reason)
			return
		case err != nil:
			if failures++; failures >= 6 {
				stop(fmt.Errorf("lost the daemon while speaking in %s: %w", room, err))
				return
			}
			continue
		}
		failures = 0
	}
}

// offStage says why this node can no longer speak in room (nil if it
// can), or fails when the daemon cannot be asked.
func offStage(ctx context.Context, c *apiv1.Client, room string) (reason, err error) {
	st, err := c.Room(ctx, room)
	var apiErr *apiv1.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
		return fmt.Errorf("the room %s is gone (%s): stopped speaking", room, apiErr.Message), nil
	case err != nil:
		return nil, err
	case st.Status == "ended":
		return fmt.Errorf("the room %q ended: stopped speaking", clean(st.Title)), nil
	case st.Role != "host" && st.Role != "moderator" && st.Role != "speaker":
		return fmt.Errorf("you are no longer on the stage of %q (you are %s now): stopped speaking", clean(st.Title), orDash(st.Role)), nil
	}
	return nil, nil
}

// speakFrames encodes src and sends one frame every 20 ms, on a clock
// rather than as fast as possible, so the room hears it at speaking pace;
// frames a busy machine held back go out at once (audio.EveryFrame), so
// the stream keeps the pace of its timestamps.
func speakFrames(ctx context.Context, src audio.Source, w interface{ WriteSample(media.Sample) error }) (int, error) {
	enc, err := audio.NewEncoder()
	if err != nil {
		return 0, err
	}
	pcm := make([]int16, audio.FrameSamples)
	n := 0
	err = audio.EveryFrame(ctx, nil, func(time.Time) error {
		if err := src.ReadFrame(pcm); err != nil {
			return err
		}
		pkt, err := enc.Encode(pcm)
		if err != nil {
			return err
		}
		if err := w.WriteSample(media.Sample{Data: pkt, Duration: audio.FrameDuration}); err != nil {
			return fmt.Errorf("send audio: %w", err)
		}
		n++
		return nil
	})
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err // Ctrl-C stops speaking, and is not an error
}

func newListenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "listen ROOM --output FILE",
		Short: "Record what a listener of a room hears: all speakers, mixed",
		Long: "Record a room, joining it as a listener if you are not in it yet, until\n" +
			"--duration passes or Ctrl-C. --output takes a .wav or .ogg file, or - for\n" +
			"raw 48 kHz 16-bit mono PCM on standard output (for example into aplay).",
		Args: checkArgs(1, 1, roomArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			output, _ := cmd.Flags().GetString("output")
			if output == "" {
				return errors.New("listen needs --output FILE (or - for raw PCM on standard output)")
			}
			duration, _ := cmd.Flags().GetDuration("duration")
			if duration < 0 {
				return fmt.Errorf("--duration %s is negative", duration)
			}
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			c, api, room, err := attach(ctx, cmd, args[0])
			if err != nil {
				return err
			}
			sink, closer, err := audio.CreateSink(output, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			defer closer.Close()
			delay, _ := cmd.Flags().GetDuration("delay")
			rx, err := audio.NewReceiver(audio.ReceiverConfig{Delay: delay})
			if err != nil {
				return err
			}
			wc, err := rtc.DialWHEP(ctx, api, c.ListenURL(room, delay), c.AuthHeader(), func(pkt *rtp.Packet) {
				rx.Push(pkt, time.Now())
			})
			if err != nil {
				return fmt.Errorf("listen to %s: %w", room, mediaError(err))
			}
			defer wc.Close()
			n, err := recordFrames(ctx, rx, sink)
			if cerr := sink.Close(); err == nil {
				err = cerr
			}
			if output != "-" {
				st := rx.Stats()
				fmt.Fprintf(cmd.ErrOrStderr(), "recorded %s of %s into %s (%d packets late, %d frames concealed, %d skipped, %d stretched, %d restarts)\n",
					(time.Duration(n) * audio.FrameDuration).Round(time.Millisecond), args[0], output,
					st.Late, st.Concealed, st.Skipped, st.Stretched, st.Resets)
			}
			return err
		},
	}
	cmd.Flags().String("output", "", "where to record: .wav, .ogg, or - for raw 48 kHz s16le mono on stdout")
	cmd.Flags().Duration("duration", 0, "stop after this long (default: until Ctrl-C)")
	// A recording can wait: a deep jitter buffer rides out pauses of a busy
	// machine (this one, or the node's) that a live listener's 60 ms would
	// turn into gaps.
	cmd.Flags().Duration("delay", time.Second, "how long audio waits in the jitter buffers (the node's mix's and this command's) before it is recorded (up to 1s; less for live listening)")
	return cmd
}

// recordFrames pulls one frame every 20 ms from the jitter buffer into
// sink until ctx ends; frames a busy machine held back are pulled at once
// (audio.EveryFrame), so the recording is as long as the time it took.
func recordFrames(ctx context.Context, rx *audio.Receiver, sink audio.Sink) (int, error) {
	pcm := make([]int16, audio.FrameSamples)
	n := 0
	err := audio.EveryFrame(ctx, nil, func(now time.Time) error {
		rx.Pull(now, pcm)
		if err := sink.WriteFrame(pcm); err != nil {
			return fmt.Errorf("write audio: %w", err)
		}
		n++
		return nil
	})
	return n, err
}

// attach is what speak and listen need before they dial: a client of the
// daemon, a WebRTC stack for it and the room arg names.
func attach(ctx context.Context, cmd *cobra.Command, arg string) (c *apiv1.Client, api *rtc.API, room string, err error) {
	if c, err = clientOf(cmd); err != nil {
		return nil, nil, "", err
	}
	if api, err = localRTC(); err != nil {
		return nil, nil, "", err
	}
	if room, err = resolveRoom(ctx, c, arg); err != nil {
		return nil, nil, "", err
	}
	return c, api, room, nil
}

// localRTC is the WebRTC stack for talking to one's own daemon: loopback
// only, quiet unless something is wrong.
func localRTC() (*rtc.API, error) {
	return rtc.NewAPI(rtc.Config{LoopbackOnly: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
}
