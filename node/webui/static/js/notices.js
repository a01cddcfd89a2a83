// Notices of what happened to this node in a room that it did not ask for:
// a moderator muted it, moved it to the audience or removed it, the room
// has a new host, the room ended. Each is shown to everyone as a toast
// (dom.js), not to screen readers alone. The page compares each room state
// it receives with the one before; what this page asked for itself
// (expect) is not news.

import * as store from './store.js';
import { toast } from './dom.js';

const asked = new Map(); // room ID -> Set of actions this page sent

// expect records that this page is about to send action in roomId, so the
// change it brings is not reported as someone else's doing.
export function expect(roomId, action) {
  if (!asked.has(roomId)) asked.set(roomId, new Set());
  asked.get(roomId).add(action);
}

// forget drops an expectation whose request failed.
export function forget(roomId, action) {
  asked.get(roomId)?.delete(action);
}

function took(roomId, action) {
  const set = asked.get(roomId);
  return !!set && set.delete(action);
}

const inRoom = (st) => st.role !== 'non-participant' && st.status !== 'ended';

// roomChanged reports what changed between prev and next, two states of
// one room as this node sees them (prev undefined the first time, next
// null when the node is no longer in the room; why.removed then says a
// moderator removed it).
export function roomChanged(prev, next, why = {}) {
  if (!prev || !store.state.me) return;
  if (!next) {
    if (why.removed) toast(`A moderator removed you from ${prev.title}`);
    else if (inRoom(prev) && !took(prev.id, 'leave') && !took(prev.id, 'end')) toast(`You are no longer in ${prev.title}`);
    return;
  }
  if (next.version <= prev.version) return;
  const me = store.state.me.peer_id;
  const id = next.id;
  if (prev.host !== next.host && next.status !== 'ended') {
    toast(next.host === me ? `You are now hosting ${next.title}` : `${store.nameOf(next.host)} is now hosting ${next.title}`);
  }
  if (next.status === 'ended' && prev.status !== 'ended') {
    if (!took(id, 'end') && !took(id, 'leave')) toast(`${next.title} has ended`);
    return;
  }
  if (inRoom(prev) && !inRoom(next)) {
    if (!took(id, 'leave')) toast(`A moderator removed you from ${next.title}`);
    return;
  }
  const was = prev.stage.find((s) => s.peer_id === me);
  const now = next.stage.find((s) => s.peer_id === me);
  if (was && !now && next.audience.includes(me) && !took(id, 'step-down')) {
    toast(`A moderator moved you to the audience in ${next.title}`);
  }
  if (was && now && !was.muted && now.muted && !took(id, 'mute')) {
    toast('A moderator muted you. Unmute when you are ready to speak.');
  }
}
