// The server-sent event stream: the node tells the page what changed, and
// the page never polls or reloads. EventSource reconnects by itself after
// a network error; a refusal (the session ended) closes it for good.

import * as store from './store.js';
import { startSession } from './api.js';
import * as notify from './notify.js';

let source = null;

export function connect(onSignedOut) {
  if (source) source.close();
  source = new EventSource('/api/v1/events');
  const on = (name, fn) => source.addEventListener(name, (e) => {
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      console.error(`event ${name}: bad JSON`);
      return;
    }
    fn(data);
  });
  source.addEventListener('open', () => store.set('connection', 'live'));
  source.addEventListener('error', async () => {
    if (source.readyState !== EventSource.CLOSED) {
      store.set('connection', 'reconnecting');
      return;
    }
    // Closed: the node refused the stream. Find out whether the session is
    // gone (a daemon restart) or something else is wrong.
    try {
      await startSession();
      store.set('connection', 'reconnecting');
      setTimeout(() => connect(onSignedOut), 2000);
    } catch (err) {
      if (err.status === 401) {
        store.set('connection', 'signed-out');
        onSignedOut();
      } else {
        store.set('connection', 'reconnecting');
        setTimeout(() => connect(onSignedOut), 2000);
      }
    }
  });
  on('identity', (me) => store.set('me', me));
  on('members', (members) => store.set('members', members));
  on('hallway', (rooms) => store.set('hallway', rooms));
  on('room', (ev) => {
    if (ev.state) {
      store.putRoom(ev.state);
    } else {
      store.dropRoom(ev.id, { removed: !!ev.removed });
      store.state.roomsGone.set(ev.id, ev.reason || 'You are no longer in this room.');
      store.state.levels.delete(ev.id);
    }
    store.changed('rooms');
  });
  on('notices', (list) => notify.show(list || []));
  on('levels', (ev) => {
    store.state.levels.set(ev.room, ev.levels || {});
    store.changed('levels');
  });
}

export function disconnect() {
  if (source) source.close();
  source = null;
}
