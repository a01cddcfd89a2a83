// The app's entry: sign the session in, open the event stream, and show
// the view the address names. Routes live in the part after '#':
//
//   #/                 the hallway
//   #/room/ID          a room
//   #/profile[/PEER]   your profile, or someone's
//   #/settings         microphone, relay capacity, API address
//   #/join/TOKEN       an invite link: join with the token
//
// A node that is in no network yet shows the first-run view instead.

import * as api from './api.js';
import * as events from './events.js';
import * as store from './store.js';
import * as nowIn from './nowin.js';
import * as notices from './notices.js';
import { h, showError } from './dom.js';
import * as welcome from './views/welcome.js';
import * as hallway from './views/hallway.js';
import * as room from './views/room.js';
import * as profile from './views/profile.js';
import * as settings from './views/settings.js';

const main = document.getElementById('main');
let current = null; // { name, key, view }

// Invite links may arrive before the browser is signed in: keep the token
// for after sign-in, in this origin's storage only.
const PENDING_INVITE = 'clubnode.pendingInvite';

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case 'room': return { name: 'room', id: parts[1] || '' };
    case 'profile': return { name: 'profile', id: parts[1] || '' };
    case 'settings': return { name: 'settings' };
    case 'join': return { name: 'join', token: parts.slice(1).join('/') };
    default: return { name: 'hallway' };
  }
}

const views = { hallway, room, profile, settings, welcome };

function route() {
  let r = parseRoute();
  const me = store.state.me;
  if (!me) return;
  const member = !!me.network;
  if (r.name === 'join') {
    if (r.token) localStorage.setItem(PENDING_INVITE, r.token);
    r = member ? { name: 'hallway', note: 'This node is already a member of a network, so the invite link was not used.' } : { name: 'welcome' };
  }
  if (!member && r.name !== 'settings') r = { name: 'welcome' };
  const key = JSON.stringify(r);
  if (current && current.key === key) return;
  if (current && current.view.destroy) current.view.destroy();
  main.replaceChildren();
  if (r.name === 'welcome') {
    r.invite = localStorage.getItem(PENDING_INVITE) || '';
  }
  current = { key, view: views[r.name].mount(main, r, { navigate }) };
  nowIn.viewingRoom(r.name === 'room' ? r.id : '');
  document.getElementById('nav').hidden = !member;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.route === r.name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // Move the focus to the new view's heading, as a page load would, so
  // screen readers announce it and Tab starts from there.
  const heading = main.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
    document.title = `${heading.textContent} · clubnode`;
  }
  if (r.note) showError(new Error(r.note));
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function showSignedOut() {
  if (current && current.view.destroy) current.view.destroy();
  current = null;
  document.getElementById('nav').hidden = true;
  main.replaceChildren(...[
    h('h1', { text: 'Sign in to clubnode' }),
    h('p', {}, 'This browser is not signed in to your clubnode node. In a terminal on this computer, run:'),
    h('pre', { class: 'command' }, h('code', { text: 'clubnode ui' })),
    h('p', {}, 'It prints a one-time sign-in link (and opens it, where there is a desktop). '
      + 'Sign-in links work once, for two minutes.'),
    localStorage.getItem(PENDING_INVITE)
      ? h('p', { class: 'note' }, 'Your invite is kept: after you sign in, it will be waiting in the "Join with an invite" form.')
      : null,
  ].filter(Boolean));
  const heading = main.querySelector('h1');
  heading.tabIndex = -1;
  heading.focus();
}

function showConnection() {
  const el = document.getElementById('connection');
  const text = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', 'signed-out': 'Signed out' }[store.state.connection];
  el.textContent = text || '';
  el.dataset.state = store.state.connection;
}

async function boot() {
  const r = parseRoute();
  if (r.name === 'join' && r.token) localStorage.setItem(PENDING_INVITE, r.token);
  try {
    await api.startSession();
  } catch (err) {
    store.set('connection', 'signed-out');
    showConnection();
    if (err.status === 401) showSignedOut();
    else showError(err, 'Could not start');
    return;
  }
  store.subscribe((key) => {
    if (key === 'connection') showConnection();
    // Founding or joining a network changes which views make sense.
    if (key === 'me') {
      if (store.state.me.network) localStorage.removeItem(PENDING_INVITE);
      const member = !!store.state.me.network;
      if (current && (current.key.includes('"welcome"') === member)) {
        current.key = '';
        route();
      }
    }
  });
  try {
    store.set('me', await api.identity());
  } catch (err) {
    showError(err, 'Could not read this node\'s identity');
    return;
  }
  showConnection();
  nowIn.mount(document.getElementById('now-in'));
  store.onRoomChange(notices.roomChanged);
  events.connect(showSignedOut);
  window.addEventListener('hashchange', route);
  route();
}

// For the console (and tests): the page's picture of the node.
window.clubnodeState = store.state;

window.addEventListener('unhandledrejection', (e) => showError(e.reason));
boot();
