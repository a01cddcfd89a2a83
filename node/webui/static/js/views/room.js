// A room: the stage with speaking rings and muted badges, the audience,
// raised hands, the microphone, and the moderators' menu on each person.
// The room's state comes from the event stream; every button sends one
// request to the room's host through this node.

import * as api from '../api.js';
import * as store from '../store.js';
import * as roomsound from '../roomsound.js';
import { icon } from '../icons.js';
import { h, showError, announce, replaceKeepingFocus, initials, hue, formatWhen } from '../dom.js';

// A level above this lights the speaking ring.
const SPEAKING = 0.04;

const roleLabels = {
  host: 'You are the host',
  moderator: 'You are a moderator',
  speaker: 'You are on the stage',
  listener: 'You are listening',
  invited: 'You are invited to speak',
};

const actionErrors = {
  join: 'Could not join the room',
  leave: 'Could not leave the room',
  'hand-up': 'Could not raise your hand',
  'hand-down': 'Could not lower your hand',
  'invite-speaker': 'Could not invite them to speak',
  accept: 'Could not join the stage',
  decline: 'Could not decline',
  'move-to-audience': 'Could not move them to the audience',
  mute: 'Could not mute',
  unmute: 'Could not unmute',
  remove: 'Could not remove them',
  'make-moderator': 'Could not make them a moderator',
  'step-down': 'Could not leave the stage',
  end: 'Could not end the room',
};

// act sends one room request and takes the state it returns.
async function act(roomId, action, peer) {
  try {
    const st = await api.roomAction(roomId, action, peer ? { peer } : {});
    if (st && st.id) store.setRoom(st);
    return st;
  } catch (err) {
    showError(err, actionErrors[action]);
    return null;
  }
}

const onStageRoles = new Set(['host', 'moderator', 'speaker']);

// moderationFor lists what this node may do to a person, following the
// rooms' permission table, so the menu offers nothing the host would
// refuse. The host still decides.
function moderationFor(st, peer) {
  if (store.isMe(peer) || peer === st.host) return [];
  const amModerator = st.role === 'host' || st.role === 'moderator';
  const onStage = st.stage.find((s) => s.peer_id === peer);
  const out = [];
  if (onStage) {
    if (!amModerator) return out;
    const outranked = onStage.moderator && st.role !== 'host';
    if (!onStage.muted) out.push(['mute', 'Mute']);
    if (!outranked) out.push(['move-to-audience', 'Move to audience']);
    if (!onStage.moderator) out.push(['make-moderator', 'Make moderator']);
    if (!outranked) out.push(['remove', 'Remove from room']);
    return out;
  }
  if (onStageRoles.has(st.role) && !st.invited.includes(peer)) out.push(['invite-speaker', 'Invite to speak']);
  if (amModerator) out.push(['remove', 'Remove from room']);
  return out;
}

export function mount(main, route, { navigate }) {
  const roomId = route.id;
  const openedAt = performance.now();
  let mode = '';
  let notInRoom = false; // the node answered 404: show the preview
  let openMenu = ''; // peer ID whose menu is open
  let invitePromptShown = false;
  let lastRole = '';

  const root = h('div', { class: 'room' });
  main.append(root);

  // Parts of the in-room view, built once and refilled on each change.
  const title = h('h1', { id: 'room-heading', tabIndex: -1 });
  const meta = h('p', { class: 'room-meta' });
  const audioStatus = h('p', { class: 'audio-status', role: 'status', id: 'audio-status' });
  const invitePrompt = h('section', { class: 'invite-prompt', role: 'alertdialog', 'aria-labelledby': 'invite-heading', 'aria-describedby': 'invite-text', hidden: true },
    h('h2', { id: 'invite-heading', text: 'Join the stage?' }),
    h('p', { id: 'invite-text' }, 'You are invited to speak. You come up muted, and unmute when you are ready.'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', id: 'accept-invite', onclick: () => act(roomId, 'accept').then((st) => st && announce('You are on the stage, muted.')) }, 'Join the stage'),
      h('button', { type: 'button', class: 'secondary', id: 'decline-invite', onclick: () => act(roomId, 'decline') }, 'No thanks')));
  const stage = h('ul', { class: 'people stage', id: 'stage', 'aria-labelledby': 'stage-heading' });
  const handsSection = h('section', { 'aria-labelledby': 'hands-heading', class: 'hands' },
    h('h2', { id: 'hands-heading', text: 'Raised hands' }));
  const hands = h('ul', { class: 'hand-list', id: 'hands' });
  const handsEmpty = h('p', { class: 'empty' }, 'No hands raised.');
  handsSection.append(hands, handsEmpty);
  const audienceHeading = h('h2', { id: 'audience-heading' });
  const audience = h('ul', { class: 'people audience', id: 'audience', 'aria-labelledby': 'audience-heading' });
  const controls = h('div', { class: 'controls', role: 'toolbar', 'aria-label': 'Room controls' });
  const micButton = h('button', { type: 'button', id: 'mic-button', class: 'mic', onclick: toggleMic });
  const handButton = h('button', { type: 'button', id: 'hand-button', class: 'secondary', onclick: toggleHand });
  const stepDownButton = h('button', { type: 'button', id: 'step-down', class: 'secondary', onclick: () => act(roomId, 'step-down') }, 'Back to the audience');
  const leaveButton = h('button', { type: 'button', id: 'leave-room', class: 'secondary', onclick: leave }, 'Leave quietly');
  const endButton = h('button', { type: 'button', id: 'end-room', class: 'danger', onclick: () => endDialog.showModal() }, 'End room');
  controls.append(micButton, handButton, stepDownButton, leaveButton, endButton);
  const endDialog = h('dialog', { 'aria-labelledby': 'end-heading', class: 'confirm' },
    h('h2', { id: 'end-heading', text: 'End the room for everyone?' }),
    h('p', {}, 'Everyone leaves, and the room disappears from the hallway.'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'danger', id: 'confirm-end', onclick: async () => { endDialog.close(); await act(roomId, 'end'); } }, 'End room'),
      h('button', { type: 'button', class: 'secondary', onclick: () => endDialog.close() }, 'Cancel')));

  function inRoomView() {
    return [
      h('header', { class: 'room-header' }, title, meta, audioStatus),
      invitePrompt,
      h('div', { class: 'room-body' },
        h('div', {},
          h('section', { 'aria-labelledby': 'stage-heading' }, h('h2', { id: 'stage-heading', text: 'Stage' }), stage),
          h('section', { 'aria-labelledby': 'audience-heading' }, audienceHeading, audience)),
        handsSection),
      controls, endDialog,
    ];
  }

  function person(st, peer, { speaker, hand, invited } = {}) {
    const name = store.nameOf(peer);
    const me = store.isMe(peer);
    const actions = moderationFor(st, peer);
    const badges = [];
    if (peer === st.host) badges.push(h('span', { class: 'badge host', text: 'Host' }));
    else if (speaker && speaker.moderator) badges.push(h('span', { class: 'badge mod', text: 'Moderator' }));
    if (speaker && speaker.muted) badges.push(h('span', { class: 'badge muted' }, icon('micOff'), 'Muted'));
    if (hand) badges.push(h('span', { class: 'badge hand' }, icon('hand'), 'Hand raised'));
    if (invited) badges.push(h('span', { class: 'badge invited', text: 'Invited' }));
    const li = h('li', { class: 'person', 'data-key': `person-${peer}`, 'data-peer': peer },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(name)),
      h('a', { class: 'person-name', href: `#/profile/${encodeURIComponent(peer)}` }, me ? `${name} (you)` : name),
      h('span', { class: 'badges' }, badges));
    li.style.setProperty('--hue', hue(peer));
    if (actions.length) {
      const open = openMenu === peer;
      const menu = h('div', { class: 'menu', id: `menu-${peer}`, hidden: !open, onkeydown: (e) => {
        if (e.key === 'Escape') {
          openMenu = '';
          render();
          // render() built a new button: the one in this closure is gone.
          document.querySelector(`[data-key="menu-${CSS.escape(peer)}"]`)?.focus();
        }
      } }, actions.map(([action, label]) => h('button', {
        // Keyed, so a render while the menu is open (any change to the
        // room) keeps the focus on this item rather than the person's name.
        type: 'button', 'data-action': action, 'data-key': `item-${peer}-${action}`, onclick: async () => {
          openMenu = '';
          render();
          if (await act(roomId, action, peer)) announce(`${label}: ${name}`);
        },
      }, label)));
      li.append(h('button', {
        type: 'button', class: 'menu-button', 'data-key': `menu-${peer}`, 'aria-haspopup': 'true', 'aria-expanded': String(open),
        'aria-controls': `menu-${peer}`, 'aria-label': `Actions for ${name}`, onclick: (e) => {
          e.stopPropagation();
          openMenu = open ? '' : peer;
          render();
          if (!open) document.querySelector(`#menu-${CSS.escape(peer)} button`)?.focus();
        },
      }, icon('more')), menu);
    }
    return li;
  }

  function renderInRoom(st) {
    const me = store.state.me.peer_id;
    const mine = st.stage.find((s) => s.peer_id === me);
    const onStage = onStageRoles.has(st.role);
    title.textContent = st.title;
    document.title = `${st.title} · clubnode`;
    const listeners = st.audience.length === 1 ? '1 listener' : `${st.audience.length} listeners`;
    meta.replaceChildren(...[
      h('span', { class: `badge type-${st.type}`, text: st.type }),
      st.status === 'scheduled' ? h('span', { class: 'badge scheduled', text: `Starts ${formatWhen(st.start)}` }) : null,
      ` ${roleLabels[st.role] || ''} · ${listeners}`].filter(Boolean));

    replaceKeepingFocus(stage, ...st.stage.map((s) => person(st, s.peer_id, { speaker: s })));
    audienceHeading.textContent = `Audience (${st.audience.length})`;
    replaceKeepingFocus(audience, ...st.audience.map((p) => person(st, p, { hand: st.hands.includes(p), invited: st.invited.includes(p) })));

    const canInvite = onStage;
    handsSection.hidden = !canInvite;
    replaceKeepingFocus(hands, ...st.hands.map((p) => h('li', { 'data-key': `hand-${p}` },
      h('span', { text: store.nameOf(p) }),
      h('button', { type: 'button', class: 'small', 'data-invite': p, onclick: () => act(roomId, 'invite-speaker', p).then((r) => r && announce(`Invited ${store.nameOf(p)} to speak`)) },
        `Invite ${store.nameOf(p)} to speak`))));
    handsEmpty.hidden = st.hands.length > 0;

    const invited = st.role === 'invited';
    invitePrompt.hidden = !invited;
    if (invited && !invitePromptShown) {
      invitePromptShown = true;
      announce('You are invited to speak. Join the stage?');
      invitePrompt.querySelector('#accept-invite').focus();
    }
    if (!invited) invitePromptShown = false;

    micButton.hidden = !onStage;
    const muted = !mine || mine.muted;
    micButton.replaceChildren(icon(muted ? 'micOff' : 'mic'), muted ? 'Unmute' : 'Mute');
    micButton.setAttribute('aria-label', muted ? 'Unmute your microphone' : 'Mute your microphone');
    micButton.classList.toggle('live', !muted);
    handButton.hidden = st.role !== 'listener';
    const handUp = st.hands.includes(me);
    handButton.replaceChildren(icon('hand'), handUp ? 'Lower hand' : 'Raise hand');
    handButton.setAttribute('aria-pressed', String(handUp));
    stepDownButton.hidden = !(st.role === 'speaker' || st.role === 'moderator');
    endButton.hidden = !(st.role === 'host' || st.role === 'moderator');

    if (st.role !== lastRole && lastRole) announce(roleLabels[st.role] || '');
    lastRole = st.role;
    // The room's sound outlives this view: it goes on while the user is
    // elsewhere in the app (roomsound.js).
    if (st.status === 'live') roomsound.open(roomId, openedAt);
    renderAudioStatus();
    renderLevels();
  }

  function renderAudioStatus() {
    const sound = store.state.sound && store.state.sound.room === roomId ? store.state.sound : { listen: 'off', speak: 'off' };
    const { listen, speak } = sound;
    const parts = [];
    const listenText = { connecting: 'Connecting sound…', on: 'Listening', blocked: 'Sound held back by the browser' }[listen];
    if (listenText) parts.push(listenText);
    if (speak === 'on') parts.push('your microphone is connected');
    audioStatus.textContent = parts.join(' · ');
    audioStatus.dataset.listen = listen;
    audioStatus.dataset.speak = speak;
  }

  async function toggleMic() {
    const st = store.state.rooms.get(roomId);
    const mine = st && st.stage.find((s) => store.isMe(s.peer_id));
    if (!mine) return;
    const audio = roomsound.open(roomId, openedAt);
    if (!mine.muted) {
      audio.setMuted(true); // silence first, then tell the room
      await act(roomId, 'mute');
      return;
    }
    if (audio.speaker) {
      if (await act(roomId, 'unmute')) audio.setMuted(false);
      return;
    }
    // Opening WHIP unmutes this node in the room, as the node's WHIP
    // endpoint does for any client; without audio, unmute still shows.
    micButton.disabled = true;
    try {
      const ok = await audio.speak();
      if (ok) api.room(roomId).then(store.setRoom).catch(() => {});
      else if (audio.status.speak === 'unavailable') await act(roomId, 'unmute');
    } finally {
      micButton.disabled = false;
    }
  }

  async function toggleHand() {
    const st = store.state.rooms.get(roomId);
    if (!st) return;
    const up = st.hands.includes(store.state.me.peer_id);
    if (await act(roomId, up ? 'hand-down' : 'hand-up')) announce(up ? 'Hand lowered' : 'Hand raised: the moderators can invite you up');
  }

  async function leave() {
    if (roomsound.playing(roomId)) roomsound.close();
    const st = await act(roomId, 'leave');
    if (st) navigate('#/');
  }

  function renderLevels() {
    const levels = store.state.levels.get(roomId) || {};
    for (const li of stage.querySelectorAll('.person')) {
      const peer = li.dataset.peer;
      const level = store.isMe(peer) ? store.state.localLevel : levels[peer] || 0;
      li.classList.toggle('speaking', level > SPEAKING);
      li.style.setProperty('--level', String(level));
    }
  }

  let previewFor = null; // the hallway entry the preview shows

  // renderPreview shows a room this node is not in, with the Join button.
  // It is rebuilt only when the room appears or goes, so typing a ticket
  // is not interrupted by live updates.
  function renderPreview(fresh) {
    const entry = store.state.hallway.find((r) => r.id === roomId) || null;
    if (!fresh && !!entry === !!previewFor) return;
    previewFor = entry;
    if (!entry) {
      root.replaceChildren(
        h('h1', { text: 'Room not found', tabIndex: -1 }),
        h('p', {}, 'This room is not in your hallway: it ended, or it is not open to you.'),
        h('p', {}, h('a', { href: '#/' }, 'Back to the hallway')));
      return;
    }
    const ticket = h('input', { id: 'room-ticket', name: 'ticket', spellcheck: false });
    const form = h('form', { class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      const req = entry.type === 'closed' && ticket.value.trim() ? { ticket: ticket.value.trim() } : {};
      try {
        store.setRoom(await api.roomAction(roomId, 'join', req));
      } catch (err) {
        showError(err, actionErrors.join);
      }
    } },
    entry.type === 'closed' ? [h('label', { for: 'room-ticket' }, 'Room ticket (from the host)'), ticket] : null,
    h('button', { type: 'submit', id: 'join-room' }, entry.status === 'scheduled' ? 'Join when it starts' : 'Join and listen'));
    root.replaceChildren(
      h('h1', { text: entry.title, tabIndex: -1 }),
      h('p', { class: 'room-meta' }, h('span', { class: `badge type-${entry.type}`, text: entry.type }),
        ` Hosted by ${store.nameOf(entry.host)} · ${entry.listeners} listening`,
        entry.status === 'scheduled' ? ` · starts ${formatWhen(entry.start)}` : ''),
      form);
  }

  function render() {
    const st = store.state.rooms.get(roomId);
    const gone = store.state.roomsGone.get(roomId);
    const inRoom = st && st.role !== 'non-participant' && st.status !== 'ended';
    let next;
    if (inRoom) next = 'in';
    else if (mode === 'in' || mode === 'gone') next = 'gone';
    else if (notInRoom || st) next = 'preview';
    else next = 'loading';
    const justSwitched = next !== mode;
    // The first view's heading is focused by the router; later switches
    // (joined, left) move the focus here, as a new page would.
    const focusHeading = justSwitched && mode !== '';
    if (justSwitched) {
      mode = next;
      if (mode === 'in') root.replaceChildren(...inRoomView());
      if (mode === 'loading') root.replaceChildren(h('h1', { text: 'Opening the room…', tabIndex: -1 }));
      if (mode === 'gone') {
        if (roomsound.playing(roomId)) roomsound.close();
        const why = st && st.status === 'ended' ? 'The room has ended.'
          : gone || 'You left, or a moderator removed you.';
        root.replaceChildren(
          h('h1', { text: 'You are no longer in this room', tabIndex: -1 }),
          h('p', { text: why }),
          h('p', {}, h('a', { href: '#/' }, 'Back to the hallway')));
      }
    }
    if (mode === 'in') renderInRoom(st);
    if (mode === 'preview') renderPreview(justSwitched);
    if (focusHeading && !root.contains(document.activeElement)) root.querySelector('h1')?.focus();
  }

  render();
  api.room(roomId).then(store.setRoom).catch((err) => {
    if (err.status === 404) {
      notInRoom = true;
      render();
    } else showError(err, 'Could not open the room');
  });

  const closeMenus = () => {
    if (openMenu) {
      openMenu = '';
      render();
    }
  };
  document.addEventListener('click', closeMenus);
  const unsubscribe = store.subscribe((key) => {
    if (key === 'levels' || key === 'localLevel') {
      if (mode === 'in') renderLevels();
      return;
    }
    if (key === 'sound' && mode === 'in') renderAudioStatus();
    if (key === 'rooms' || key === 'members' || key === 'hallway' || key === 'me') render();
  });
  return {
    destroy() {
      unsubscribe();
      document.removeEventListener('click', closeMenus);
    },
  };
}
