// The bar that shows, anywhere else in the app, the room whose sound is
// playing: its title, whether the user is on stage, a way back and a way
// out. Without it a user in the hallway would hear a room with no sign of
// which one, or how to leave it.

import * as api from './api.js';
import * as store from './store.js';
import * as roomsound from './roomsound.js';
import * as notices from './notices.js';
import { h, showError, announce } from './dom.js';

let bar = null;
let viewing = ''; // the room whose view is open, '' for any other view

function render() {
  const sound = store.state.sound;
  const st = sound && store.state.rooms.get(sound.room);
  bar.hidden = !st || sound.room === viewing;
  if (bar.hidden) {
    bar.replaceChildren();
    return;
  }
  const mine = st.stage.find((s) => store.isMe(s.peer_id));
  const what = !mine ? 'Listening to' : mine.muted ? 'On stage (muted) in' : 'On stage, your microphone live, in';
  const roomId = sound.room;
  bar.replaceChildren(
    h('span', { class: 'now-in-dot', 'aria-hidden': 'true' }),
    h('p', { id: 'now-in-text' }, `${what} `, h('strong', { text: st.title })),
    mine && !mine.muted ? h('button', { type: 'button', id: 'now-in-mute', class: 'small', onclick: () => mute(roomId) }, 'Mute') : null,
    h('a', { href: `#/room/${encodeURIComponent(roomId)}`, id: 'now-in-room', class: 'small' }, 'Back to the room'),
    h('button', { type: 'button', id: 'now-in-leave', class: 'secondary small', onclick: async () => {
      roomsound.close();
      notices.expect(roomId, 'leave');
      try {
        const left = await api.roomAction(roomId, 'leave');
        if (left && left.id) store.setRoom(left);
        announce(`You left ${st.title}`);
      } catch (err) {
        notices.forget(roomId, 'leave');
        showError(err, 'Could not leave the room');
      }
    } }, 'Leave quietly'));
}

// mute silences this browser's microphone, then tells the room, as the
// room view's microphone button does.
async function mute(roomId) {
  roomsound.playing(roomId)?.setMuted(true);
  notices.expect(roomId, 'mute');
  try {
    const st = await api.roomAction(roomId, 'mute');
    if (st && st.id) store.setRoom(st);
    announce('Your microphone is muted');
  } catch (err) {
    notices.forget(roomId, 'mute');
    showError(err, 'Could not mute');
  }
}

// mount starts the bar in el, which stays in the page across views.
export function mount(el) {
  bar = el;
  store.subscribe((key) => {
    if (key === 'sound' || key === 'rooms' || key === 'members') render();
  });
  render();
}

// viewingRoom tells the bar which room's view is open ('' for none): that
// room's own view shows its controls, so the bar hides there.
export function viewingRoom(roomId) {
  viewing = roomId || '';
  if (bar) render();
}
