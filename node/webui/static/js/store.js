// The page's picture of the node, kept current by the event stream.
// Views read it and subscribe to the parts they show.

export const state = {
  me: null, // Identity: peer_id, name, network
  members: [], // [Member]
  hallway: [], // [Room]
  rooms: new Map(), // room ID -> RoomState, for rooms this node is in
  roomsGone: new Map(), // room ID -> why the node is no longer in it
  levels: new Map(), // room ID -> {peer ID: 0..1}
  localLevel: 0, // this browser's own microphone, 0..1
  sound: null, // the room playing in this browser: { room, listen, speak } (roomsound.js)
  connection: 'connecting', // connecting, live, reconnecting, signed-out
};

const listeners = new Set();
let roomHook = () => {};

// onRoomChange calls fn(prev, next, why) whenever a room's state is replaced,
// next null when the node is no longer in the room (notices.js compares
// them).
export function onRoomChange(fn) {
  roomHook = fn;
}

// putRoom replaces a room's state with a newer one (an API answer and the
// event stream bring the same states, in either order).
export function putRoom(roomState) {
  const prev = state.rooms.get(roomState.id);
  // An API answer can arrive after the event stream brought a newer state.
  if (prev && prev.version > roomState.version) return;
  state.rooms.set(roomState.id, roomState);
  state.roomsGone.delete(roomState.id);
  try {
    roomHook(prev, roomState);
  } catch (err) {
    console.error('room notices failed:', err);
  }
}

// set changes one part of the state and tells the subscribers which.
export function set(key, value) {
  state[key] = value;
  changed(key);
}

// changed tells subscribers a part changed in place (a Map entry).
export function changed(key) {
  for (const fn of [...listeners]) {
    try {
      fn(key);
    } catch (err) {
      console.error('a view failed to update:', err);
    }
  }
}

// subscribe calls fn(key) after every change; it returns the unsubscribe.
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// member finds a member by peer ID.
export function member(peerId) {
  return state.members.find((m) => m.peer_id === peerId);
}

// nameOf is how the page names a peer: its profile name, or a short ID.
export function nameOf(peerId) {
  if (state.me && peerId === state.me.peer_id) return state.me.name || 'You';
  const m = member(peerId);
  return (m && m.name) || `${peerId.slice(0, 6)}…${peerId.slice(-4)}`;
}

export function isMe(peerId) {
  return !!state.me && state.me.peer_id === peerId;
}

// dropRoom forgets a room the node is no longer in; why.removed says a
// moderator removed it.
export function dropRoom(id, why = {}) {
  const prev = state.rooms.get(id);
  state.rooms.delete(id);
  try {
    if (prev) roomHook(prev, null, why);
  } catch (err) {
    console.error('room notices failed:', err);
  }
}

// setRoom stores a room's state from an API answer; the event stream will
// say the same a moment later, but the page should not wait for it.
export function setRoom(roomState) {
  putRoom(roomState);
  changed('rooms');
}
