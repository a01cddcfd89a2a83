// Sound between this page and its own node, over WebRTC through the
// node's standard endpoints: WHEP to listen (the node sends the room's
// speakers mixed into one Opus track) and WHIP to speak (the microphone,
// with the browser's echo cancellation, noise suppression and automatic
// gain unless Settings turn them off). The page never talks to other nodes: its node carries the room.
//
// Signaling is not trickled: the offer goes out once ICE gathering is
// complete, which on loopback takes a few milliseconds.

import { offerMedia, endMedia } from './api.js';
import * as store from './store.js';

const MIC_KEY = 'clubnode.microphone';

// chosenMicrophone is the device ID picked in Settings ('' for default).
export function chosenMicrophone() {
  return localStorage.getItem(MIC_KEY) || '';
}

export function chooseMicrophone(deviceId) {
  if (deviceId) localStorage.setItem(MIC_KEY, deviceId);
  else localStorage.removeItem(MIC_KEY);
}

const PROCESSING_KEY = 'clubnode.voiceProcessing';

// voiceProcessing is whether the browser cleans up the microphone: echo
// cancellation, noise suppression and automatic gain. On unless turned off
// in Settings, by someone playing music or wearing a headset, where the
// processing only gets in the way (it pumps music and flattens a voice).
export function voiceProcessing() {
  return localStorage.getItem(PROCESSING_KEY) !== 'off';
}

export function setVoiceProcessing(on) {
  if (on) localStorage.removeItem(PROCESSING_KEY);
  else localStorage.setItem(PROCESSING_KEY, 'off');
}

// microphoneConstraints asks for voice processing on by default: people
// talk in rooms with speakers playing, and the browser's processing is
// what keeps the room from hearing itself.
export function microphoneConstraints(deviceId = chosenMicrophone(), processing = voiceProcessing()) {
  const audio = { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing };
  if (deviceId) audio.deviceId = { exact: deviceId };
  return { audio, video: false };
}

// Statuses a node without audio answers with: the page still works, silent.
const UNAVAILABLE = new Set([405, 501]);

// Listening again after the sound is lost (the daemon restarted, the
// network path went) or never came: after each of these delays in turn,
// about a minute in all, then the page gives up and says why.
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 15000, 15000];
// CONNECT_DEADLINE_MS is how long a connection to the node may take to
// come up: on one computer it takes milliseconds, so a longer wait means
// no network path (a computer with no network interface but loopback,
// whose browser offers no candidate the node can reach).
const CONNECT_DEADLINE_MS = 10000;

function iceGathered(pc, timeoutMs = 3000) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') {
      resolve();
      return;
    }
    const timer = setTimeout(resolve, timeoutMs);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

async function negotiate(pc, roomId, kind) {
  await pc.setLocalDescription(await pc.createOffer());
  await iceGathered(pc);
  const { answer, location } = await offerMedia(roomId, kind, pc.localDescription.sdp);
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  return location;
}

// metrics are timings a test (or a curious user, in the console) can read:
// window.clubnodeMetrics.firstSoundMs is the time from opening a room to
// the first sound of it reaching the page; .microphone is the settings the
// browser applied to the microphone last opened; .listenConnection is the
// state of the last room sound's connection to the node; .captured()
// resolves to how many seconds of audio the microphone now speaking has
// delivered (WebRTC's media-source totalSamplesDuration): under a starved
// CPU a browser can deliver less than the time that passed.
export const metrics = {};
window.clubnodeMetrics = metrics;

// RoomAudio is one room's sound. onStatus(kind, status, message) reports
// 'listen' and 'speak' as off, connecting, on, unavailable or failed.
export class RoomAudio {
  constructor(roomId, onStatus, openedAt = performance.now()) {
    this.roomId = roomId;
    this.onStatus = onStatus;
    this.openedAt = openedAt;
    this.listener = null; // { pc, location }
    this.speaker = null; // { pc, location, stream, meter }
    this.closed = false;
    this.player = new Audio();
    this.player.autoplay = true;
    this.status = { listen: 'off', speak: 'off' };
  }

  report(kind, status, message = '') {
    this.status[kind] = status;
    this.status[`${kind}Detail`] = message;
    this.onStatus(kind, status, message);
  }

  // listen asks the node for the room's sound and plays it, and asks
  // again (retry) whenever the sound is lost.
  listen() {
    if (this.listener || this.closed || this.retryTimer) return;
    this.connectListener();
  }

  async connectListener() {
    const pc = new RTCPeerConnection();
    const listener = { pc, location: null, deadline: 0 };
    this.listener = listener;
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addEventListener('track', (e) => {
      this.player.srcObject = new MediaStream([e.track]);
      this.player.play().catch(() => {
        // Not an error: the browser waits for a click before it plays
        // anything. The status line says so, with a button (any click
        // on the page does too).
        this.report('listen', 'blocked');
        document.addEventListener('click', () => this.unblock(), { once: true });
      });
      this.watchFirstSound(pc);
    });
    pc.addEventListener('connectionstatechange', () => {
      if (this.listener !== listener) return;
      metrics.listenConnection = pc.connectionState;
      if (pc.connectionState === 'connected') {
        clearTimeout(listener.deadline);
        this.retries = 0;
        metrics.listenConnects = (metrics.listenConnects || 0) + 1;
        if (this.status.listen !== 'blocked') this.report('listen', 'on');
      }
      if (pc.connectionState === 'failed') this.retry('the connection to your node broke');
      if (pc.connectionState === 'disconnected') {
        // Often back by itself within a second; a daemon that went away
        // is not.
        setTimeout(() => {
          if (this.listener === listener && pc.connectionState === 'disconnected') this.retry('the connection to your node was lost');
        }, 2000);
      }
    });
    this.report('listen', this.retries ? 'reconnecting' : 'connecting', this.retries ? 'Reconnecting sound: asking your node for the room again' : '');
    listener.deadline = setTimeout(() => this.retry('no network path between this browser and your node'), CONNECT_DEADLINE_MS);
    try {
      listener.location = await negotiate(pc, this.roomId, 'whep');
      if (this.listener !== listener) endMedia(listener.location); // given up on meanwhile
      else if (this.closed) this.stopListening();
    } catch (err) {
      if (this.listener !== listener) return;
      if (UNAVAILABLE.has(err.status)) {
        this.dropListener();
        this.report('listen', 'unavailable', `This node cannot play rooms (${err.message}).`);
      } else {
        // The node is down (no status: it did not answer), restarting, or
        // not back in the room yet (404, 503).
        this.retry(err.status ? err.message : 'your node does not answer');
      }
    }
  }

  // retry drops the listening connection and tries again after the next
  // delay, saying what it waits for, or gives up with the reason.
  retry(reason) {
    if (this.closed || !this.listener) return;
    this.dropListener();
    this.retries = this.retries || 0;
    if (this.retries >= RETRY_DELAYS_MS.length) {
      this.retries = 0;
      this.report('listen', 'failed', `No sound from the room: ${reason}. Tried for a minute; leave and join the room to try again.`);
      return;
    }
    const delay = RETRY_DELAYS_MS[this.retries++];
    this.report('listen', 'reconnecting', `Sound lost (${reason}): trying again in ${Math.round(delay / 1000)} s`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = 0;
      if (!this.closed) this.connectListener();
    }, delay);
  }

  dropListener() {
    const l = this.listener;
    if (!l) return;
    this.listener = null;
    clearTimeout(l.deadline);
    if (l.location) endMedia(l.location);
    l.pc.close();
    this.player.srcObject = null;
  }

  // unblock plays the room's sound after the browser held it back; it
  // must run in a click's handler.
  unblock() {
    if (this.closed || this.status.listen !== 'blocked') return;
    this.player.play().then(() => this.report('listen', 'on')).catch(() => {
      document.addEventListener('click', () => this.unblock(), { once: true });
    });
  }

  // watchFirstSound records when the room first becomes audible.
  watchFirstSound(pc) {
    const started = performance.now();
    const timer = setInterval(async () => {
      if (this.closed || performance.now() - started > 60000) {
        clearInterval(timer);
        return;
      }
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio' && (s.totalAudioEnergy > 0 || s.audioLevel > 0)) {
          if (metrics.firstSoundMs === undefined) metrics.firstSoundMs = Math.round(performance.now() - this.openedAt);
          clearInterval(timer);
        }
      });
    }, 50);
  }

  stopListening() {
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    if (!this.listener) return;
    this.dropListener();
    this.report('listen', 'off');
  }

  // speak opens the microphone and sends it to the node, which makes it
  // this node's voice on the stage (and unmutes it there).
  async speak() {
    if (this.speaker || this.closed) return true;
    this.report('speak', 'connecting');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(microphoneConstraints());
    } catch (err) {
      const why = err.name === 'NotAllowedError' ? 'the browser was not allowed to use the microphone'
        : err.name === 'NotFoundError' || err.name === 'OverconstrainedError' ? 'no microphone was found (check Settings)'
          : err.message;
      this.report('speak', 'failed', `Cannot open the microphone: ${why}.`);
      return false;
    }
    const pc = new RTCPeerConnection();
    const [track] = stream.getAudioTracks();
    metrics.microphone = track.getSettings(); // what the browser applied, e.g. echoCancellation
    pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    this.speaker = { pc, stream, location: null, meter: meter(stream) };
    metrics.captured = async () => {
      for (const s of (await pc.getStats()).values()) {
        if (s.type === 'media-source' && s.kind === 'audio') return s.totalSamplesDuration ?? -1;
      }
      return -1;
    };
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed') this.report('speak', 'failed', 'The connection to your node for your voice failed.');
    });
    try {
      this.speaker.location = await negotiate(pc, this.roomId, 'whip');
      this.report('speak', 'on');
      if (this.closed) this.stopSpeaking();
      return true;
    } catch (err) {
      this.stopSpeaking();
      if (UNAVAILABLE.has(err.status)) this.report('speak', 'unavailable', `This node cannot send your voice yet (${err.message}).`);
      else this.report('speak', 'failed', err.message);
      return false;
    }
  }

  // setMuted switches the microphone track off and on at once; the room's
  // state says "muted" for everyone else.
  setMuted(muted) {
    if (!this.speaker) return;
    for (const t of this.speaker.stream.getAudioTracks()) t.enabled = !muted;
  }

  stopSpeaking() {
    if (!this.speaker) return;
    const { pc, stream, location, meter: m } = this.speaker;
    this.speaker = null;
    endMedia(location);
    pc.close();
    stream.getTracks().forEach((t) => t.stop());
    m.stop();
    store.set('localLevel', 0);
    this.report('speak', 'off');
  }

  close() {
    this.closed = true;
    this.stopSpeaking();
    this.stopListening();
  }
}

// meter measures the microphone locally, for this user's own speaking
// ring: the node's levels are of what it plays to this user, which leaves
// out the user's own voice.
function meter(stream) {
  let ctx;
  try {
    ctx = new AudioContext();
  } catch {
    return { stop() {} };
  }
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  ctx.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const rms = Math.sqrt(sum / samples.length);
    // Speech RMS sits around 0.02 to 0.2; scale so normal speech fills
    // most of the ring.
    const level = Math.min(1, Math.round(rms * 400) / 100);
    if (Math.abs(level - store.state.localLevel) >= 0.02) store.set('localLevel', level);
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      ctx.close();
    },
  };
}
