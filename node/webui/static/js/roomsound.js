// The sound of the room this browser is in, kept while the user walks
// around the app: the room goes on playing, and the microphone on sending,
// in the hallway, on a profile or in Settings, as people expect of a live
// room. It stops when the user leaves, opens another room's sound, signs
// out, or the room ends or lets them go.
//
// The room's state decides what is sent: listening while the room is
// live; the microphone only while on stage, and silent while muted (by the
// user or by a moderator), wherever in the app the user is.

import { RoomAudio } from './audio.js';
import * as store from './store.js';
import { showError } from './dom.js';

const onStageRoles = new Set(['host', 'moderator', 'speaker']);

let current = null; // RoomAudio of the room playing, or null

// The store's 'sound' part says which room plays and how, for the room
// view's status line and the bar shown elsewhere in the app.
function publish() {
  store.set('sound', current ? { room: current.roomId, ...current.status } : null);
}

function report(kind, status, message) {
  publish();
  if (message && (status === 'failed' || status === 'unavailable')) showError(new Error(message));
}

// open makes roomId's sound the one playing, starting it if it is not
// already, and returns its RoomAudio. openedAt is when the user opened the
// room, for the first-sound timing.
export function open(roomId, openedAt) {
  if (current && current.roomId === roomId) return current;
  close();
  current = new RoomAudio(roomId, report, openedAt);
  publish();
  follow();
  return current;
}

// playing is the RoomAudio of roomId if its sound is on, else null.
export function playing(roomId) {
  return current && current.roomId === roomId ? current : null;
}

// close stops the sound, if any.
export function close() {
  if (!current) return;
  const was = current;
  current = null;
  was.close();
  publish();
}

// follow makes the sound follow the room's state.
function follow() {
  if (!current) return;
  const st = store.state.rooms.get(current.roomId);
  if (store.state.roomsGone.has(current.roomId) || (st && (st.status === 'ended' || st.role === 'non-participant'))) {
    close();
    return;
  }
  if (!st || st.status !== 'live') return;
  current.listen();
  if (!onStageRoles.has(st.role)) {
    current.stopSpeaking();
    return;
  }
  const mine = st.stage.find((s) => store.isMe(s.peer_id));
  current.setMuted(!mine || mine.muted);
}

store.subscribe((key) => {
  if (key === 'rooms') follow();
  if (key === 'connection' && store.state.connection === 'signed-out') close();
});
