#!/usr/bin/python3
"""A WHIP/WHEP client built on GStreamer's webrtcbin, to try clubnode's
endpoints with a WebRTC stack clubnode did not write.

  gstwhip.py whip URL WAV [--no-bundle] [--trickle] [--loopback]
      speak WAV in real time
  gstwhip.py whep URL OUT.wav SECONDS [--trickle] [--loopback]
      record the room to OUT.wav until SIGINT, or SECONDS at most

The API token comes from $CLUBNODE_TOKEN. --trickle posts the offer before
ICE gathering and sends the candidates afterwards with PATCH
(application/trickle-ice-sdpfrag, RFC 9725); without it the offer waits
for gathering to end. --loopback gathers on 127.0.0.1 only (libnice
leaves loopback out by default). --no-bundle offers without a=group:BUNDLE, as
GStreamer's simple-whip-client does by default. Prints one line per event
("answer 201", "patch 204", "connected", "eos") and exits 0 on success.
"""
import os
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import wave

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402


def log(*args):
    print(*args, flush=True)


class Client:
    def __init__(self, mode, url, args):
        self.mode, self.url = mode, url
        self.token = os.environ.get("CLUBNODE_TOKEN", "")
        self.trickle = "--trickle" in args
        self.loop = GLib.MainLoop()
        self.location = None
        self.etag = None
        self.pending = []  # candidates gathered before the answer came
        self.failed = None
        policy = "none" if "--no-bundle" in args else "max-bundle"
        if mode == "whip":
            # The WAV (48 kHz mono 16-bit) is pushed in real time from the
            # moment the session connects, as a microphone would be: a file
            # source would start at once and burst what ICE held back.
            with wave.open(args[0]) as w:
                if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (48000, 1, 2):
                    raise SystemExit("the WAV must be 48 kHz mono 16-bit")
                self.pcm = w.readframes(w.getnframes())
            self.pushed = 0
            desc = ("appsrc name=mic is-live=true format=time "
                    "caps=audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved "
                    f"! clocksync ! audioconvert ! opusenc bitrate=32000 ! rtpopuspay pt=111 "
                    f"! application/x-rtp,media=audio,encoding-name=OPUS,payload=111 "
                    f"! identity name=tail ! webrtcbin name=rtc bundle-policy={policy}")
        else:
            self.out, self.seconds = args[0], float(args[1])
            desc = f"webrtcbin name=rtc bundle-policy={policy}"
        # A description of one element parses to that element, not a bin.
        self.pipe = Gst.parse_launch(desc) if mode == "whip" else Gst.Pipeline.new("whep")
        if mode == "whip":
            self.rtc = self.pipe.get_by_name("rtc")
        else:
            self.rtc = Gst.ElementFactory.make("webrtcbin", "rtc")
            Gst.util_set_object_arg(self.rtc, "bundle-policy", policy)
            # A recorder can wait: a deep jitter buffer rides out a busy
            # machine's pauses instead of dropping what arrives late.
            self.rtc.set_property("latency", 1000)
            self.pipe.add(self.rtc)
        if mode == "whip":
            self.watch_eos(self.pipe.get_by_name("tail"))
            self.mic = self.pipe.get_by_name("mic")
            self.started = None
        if mode == "whep":
            caps = Gst.caps_from_string("application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111")
            self.rtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, caps)
            self.rtc.connect("pad-added", self.on_pad)
        if "--loopback" in args:
            # Gather on 127.0.0.1 only: libnice skips loopback by itself.
            # webrtcbin 1.22 hands out its own reference to the ICE agent
            # here, so the wrapper is kept for as long as the element lives.
            self.ice = self.rtc.get_property("ice-agent")
            self.ice.emit("add-local-ip-address", "127.0.0.1")
            self.ice.set_property("ice-tcp", False)
        self.rtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.rtc.connect("on-ice-candidate", self.on_candidate)
        self.rtc.connect("notify::ice-gathering-state", self.on_gathering)
        self.rtc.connect("notify::ice-connection-state", self.on_ice_state)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message)

    def watch_eos(self, element):
        # webrtcbin's own sinks never see EOS, so the pipeline never posts
        # it: the end of the stream is watched where it passes instead.
        def probe(pad, info):
            if info.get_event().type == Gst.EventType.EOS:
                log("eos")
                GLib.idle_add(self.loop.quit)
            return Gst.PadProbeReturn.OK
        element.get_static_pad("src").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, probe)

    def fail(self, why):
        log("error", why)
        self.failed = why
        self.loop.quit()

    def request(self, method, url, body=None, ctype=None, extra=None):
        req = urllib.request.Request(url, data=body, method=method)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        if ctype:
            req.add_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()
        except urllib.error.URLError as e:
            return 0, {}, str(e.reason).encode()

    def on_negotiation_needed(self, element):
        promise = Gst.Promise.new_with_change_func(self.on_offer_created, element, None)
        element.emit("create-offer", None, promise)

    def on_offer_created(self, promise, element, _):
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply else None
        if offer is None:
            GLib.idle_add(self.fail, f"create-offer: {reply.to_string() if reply else None}")
            return
        element.emit("set-local-description", offer, Gst.Promise.new_with_change_func(self.on_local_set, None, None))

    def on_local_set(self, promise, _a, _b):
        if self.trickle:
            GLib.idle_add(self.post_offer)

    def on_gathering(self, element, _):
        state = element.get_property("ice-gathering-state")
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            if self.trickle:
                GLib.idle_add(self.send_candidates, True)
            else:
                GLib.idle_add(self.post_offer)

    def post_offer(self):
        sdp = self.rtc.get_property("local-description").sdp.as_text()
        status, headers, body = self.request("POST", self.url, sdp.encode(), "application/sdp")
        log("answer", status)
        if os.environ.get("GSTWHIP_SDP"):
            log("offer:\n" + sdp + "answer:\n" + body.decode(errors="replace"))
        if status != 201:
            self.fail(f"POST {status}: {body.decode(errors='replace')}")
            return False
        self.location = urllib.parse.urljoin(self.url, headers.get("Location"))
        self.etag = headers.get("ETag")
        res, msg = GstSdp.SDPMessage.new_from_text(body.decode())
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        self.rtc.emit("set-remote-description", answer, Gst.Promise.new())
        if self.trickle:
            self.send_candidates(False)
        return False

    def on_candidate(self, element, mline, candidate):
        if self.trickle:
            self.pending.append((mline, candidate))
            GLib.idle_add(self.send_candidates, False)

    def send_candidates(self, done):
        if self.location is None:
            return False
        if not self.pending and not done:
            return False
        local = self.rtc.get_property("local-description").sdp
        media = local.get_media(0)
        lines = [f"a=ice-ufrag:{media.get_attribute_val('ice-ufrag')}",
                 f"a=ice-pwd:{media.get_attribute_val('ice-pwd')}",
                 f"m=audio 9 UDP/TLS/RTP/SAVPF 111", f"a=mid:{media.get_attribute_val('mid')}"]
        for _, cand in self.pending:
            lines.append("a=" + cand)
        if done:
            lines.append("a=end-of-candidates")
        self.pending = []
        frag = "\r\n".join(lines) + "\r\n"
        extra = {"If-Match": self.etag} if self.etag else {}
        status, _, body = self.request("PATCH", self.location, frag.encode(), "application/trickle-ice-sdpfrag", extra)
        log("patch", status)
        if status not in (200, 204):
            self.fail(f"PATCH {status}: {body.decode(errors='replace')}")
        return False

    def on_ice_state(self, element, _):
        state = element.get_property("ice-connection-state")
        if state in (GstWebRTC.WebRTCICEConnectionState.CONNECTED, GstWebRTC.WebRTCICEConnectionState.COMPLETED):
            log("connected")
            if self.mode == "whip" and self.started is None:
                self.started = GLib.get_monotonic_time()
                clock = self.pipe.get_clock()
                # Half a second ahead: clocksync lets each frame go at its
                # time, so a timer late by up to that much still sends
                # evenly paced audio, as a microphone would.
                self.base = (clock.get_time() - self.pipe.get_base_time() if clock else 0) + 500 * Gst.MSECOND
                GLib.timeout_add(10, self.push)
        elif state == GstWebRTC.WebRTCICEConnectionState.FAILED:
            GLib.idle_add(self.fail, "ICE failed")

    def push(self):
        # Everything due by now, in 20 ms frames stamped by their place in
        # the file: a late timer pushes several at once, and the RTP
        # timestamps must still be 20 ms apart.
        due = (GLib.get_monotonic_time() - self.started + 400000) * 48000 // 1000000 * 2
        while self.pushed < min(due, len(self.pcm)):
            chunk = self.pcm[self.pushed:self.pushed + 1920]
            buf = Gst.Buffer.new_wrapped(chunk)
            buf.pts = self.base + self.pushed // 2 * Gst.SECOND // 48000
            buf.duration = len(chunk) // 2 * Gst.SECOND // 48000
            self.pushed += len(chunk)
            self.mic.emit("push-buffer", buf)
        if self.pushed >= len(self.pcm):
            self.mic.emit("end-of-stream")
            return False
        return True

    def on_pad(self, element, pad):
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        rest = Gst.parse_bin_from_description(
            "rtpopusdepay ! opusdec ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=1 "
            f"! wavenc ! identity name=tail ! filesink location={self.out}", True)
        self.pipe.add(rest)
        rest.sync_state_with_parent()
        pad.link(rest.get_static_pad("sink"))
        self.record = rest
        self.watch_eos(rest.get_by_name("tail"))
        GLib.timeout_add(int(self.seconds * 1000), self.finish)

    def finish(self):
        # EOS through the recording branch, so wavenc writes its header.
        # Once: SIGINT and the SECONDS timer may both come.
        if getattr(self, "record", None) is not None and not getattr(self, "finished", False):
            self.finished = True
            self.record.get_static_pad("sink").send_event(Gst.Event.new_eos())
        return False

    def on_message(self, bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            self.fail(f"{err.message} ({dbg})")

    def run(self):
        self.pipe.set_state(Gst.State.PLAYING)
        if self.mode == "whip":
            # One frame of silence gives webrtcbin the caps it makes the
            # offer from; the speech follows once connected.
            silence = Gst.Buffer.new_wrapped(bytes(1920))
            silence.pts, silence.duration = 0, 20 * Gst.MSECOND
            self.mic.emit("push-buffer", silence)
        if self.mode == "whep":
            # The test ends the recording when it has what it needs.
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, lambda: self.finish() or True)
        GLib.timeout_add_seconds(60, self.fail, "gave up after 60 s")
        self.loop.run()
        if self.location:
            status, _, _ = self.request("DELETE", self.location)
            log("delete", status)
        self.pipe.set_state(Gst.State.NULL)
        return 1 if self.failed else 0


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("whip", "whep"):
        print(__doc__, file=sys.stderr)
        return 2
    Gst.init(None)
    return Client(sys.argv[1], sys.argv[2], sys.argv[3:]).run()


if __name__ == "__main__":
    sys.exit(main())
