// The browser's notifications, if the user turned them on in Settings:
// the node decides what is worth one (a followed member starts a room or
// goes on stage, a reminded room starts) and sends the notices on the
// event stream; this page shows the ones it has not shown yet.

import { metrics } from './audio.js';

const KEY = 'clubnode.notifications';
const loadedAt = Date.now();
const shown = new Set();

// wanted is whether the user turned notifications on here.
export function wanted() {
  return localStorage.getItem(KEY) === 'on';
}

// enable asks the browser for permission (from a click) and says whether
// notifications are now on.
export async function enable(on) {
  if (!on) {
    localStorage.removeItem(KEY);
    return false;
  }
  if (!('Notification' in window)) throw new Error('this browser has no notifications');
  const permission = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('the browser did not allow notifications (see its site settings)');
  localStorage.setItem(KEY, 'on');
  return true;
}

// show shows the notices not shown yet, leaving out those from before
// this page was opened (the node keeps the last few).
export function show(notices) {
  for (const n of notices) {
    if (shown.has(n.id)) continue;
    shown.add(n.id);
    if (new Date(n.time).getTime() < loadedAt - 5000) continue;
    if (!wanted() || !('Notification' in window) || Notification.permission !== 'granted') continue;
    const note = new Notification(n.title, { body: n.body, tag: n.id });
    note.onclick = () => {
      window.focus();
      location.hash = `#/room/${encodeURIComponent(n.room)}`;
    };
    (metrics.notifications ||= []).push({ title: n.title, body: n.body, kind: n.kind });
  }
}
