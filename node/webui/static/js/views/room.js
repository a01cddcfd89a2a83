// A room: the stage with speaking rings and muted badges, the audience,
// raised hands, the microphone, and the moderators' menu on each person.
// The room's state comes from the event stream; every button sends one
// request to the room's host through this node.

import * as api from '../api.js';
import * as store from '../store.js';
import * as roomsound from '../roomsound.js';
import * as notices from '../notices.js';
import { icon } from '../icons.js';
import { h, showError, announce, replaceKeepingFocus, initials, hue, formatWhen, copyButton } from '../dom.js';

// A level above this lights the speaking ring.
const SPEAKING = 0.04;

const roleLabels = {
  host: 'You are the host',
  moderator: 'You are a moderator',
  speaker: 'You are on the stage',
  listener: 'You are listening',
  invited: 'You are invited to speak',
};

// Action names are the room request kinds' names, as the API takes them.
const actionErrors = {
  join: 'Could not join the room',
  leave: 'Could not leave the room',
  'raise-hand': 'Could not raise your hand',
  'lower-hand': 'Could not lower your hand',
  'invite-speaker': 'Could not invite them to speak',
  'accept-invite': 'Could not join the stage',
  'decline-invite': 'Could not decline',
  'move-to-audience': 'Could not move them to the audience',
  mute: 'Could not mute',
  'unmute-self': 'Could not unmute',
  remove: 'Could not remove them',
  'make-moderator': 'Could not make them a moderator',
  'step-down': 'Could not leave the stage',
  end: 'Could not end the room',
};

// Labels of the actions on someone else, in the order the node lists them.
const peerActionLabels = {
  mute: 'Mute',
  'invite-speaker': 'Invite to speak',
  'move-to-audience': 'Move to audience',
  'make-moderator': 'Make moderator',
  remove: 'Remove from room',
};

// act sends one room request and takes the state it returns.
// What each path of an audio link is called (room show's links[].path).
const pathLabels = { direct: 'direct', 'hole-punched': 'hole-punched through a router', turn: 'relayed by TURN' };
// How often an open room asks its node how its links are carried.
const linksRefresh = 3000;

async function act(roomId, action, peer) {
  if (!peer) notices.expect(roomId, action);
  try {
    const st = await api.roomAction(roomId, action, peer ? { peer } : {});
    if (st && st.id) store.setRoom(st);
    return st;
  } catch (err) {
    if (!peer) notices.forget(roomId, action);
    showError(err, actionErrors[action]);
    return null;
  }
}

const onStageRoles = new Set(['host', 'moderator', 'speaker']);

// moderationFor lists what this node may do to a person: the node says so
// in the room's state (actions.peers), by the rules the host applies.
function moderationFor(st, peer) {
  const acts = (st.actions && st.actions.peers && st.actions.peers[peer]) || [];
  return acts.filter((a) => peerActionLabels[a]).map((a) => [a, peerActionLabels[a]]);
}

// mayDo says whether the node lets this node do action about itself.
function mayDo(st, action) {
  return !!(st.actions && st.actions.self && st.actions.self.includes(action));
}

// stagePreview shows who is on a room's stage before one joins: the host
// first, then the speakers, as the hallway's announcement names them.
function stagePreview(entry) {
  const people = [entry.host, ...entry.speakers.filter((p) => p !== entry.host)];
  return h('section', { 'aria-labelledby': 'preview-stage-heading', id: 'preview-stage' },
    h('h2', { id: 'preview-stage-heading', text: entry.status === 'scheduled' ? 'Host' : 'On stage' }),
    h('ul', { class: 'stage-preview' }, people.map((p) => {
      const face = h('span', { class: 'avatar small', 'aria-hidden': 'true' }, initials(store.nameOf(p)));
      face.style.setProperty('--hue', hue(p));
      return h('li', {}, face, store.nameOf(p), p === entry.host ? h('span', { class: 'badge host', text: 'Host' }) : null);
    })));
}

// otherRooms are the live rooms other than roomId that this node is in.
function otherRooms(roomId) {
  return [...store.state.rooms.values()].filter((st) => st.id !== roomId && st.status === 'live' && st.role !== 'non-participant');
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
  const linksLine = h('p', { class: 'audio-links', id: 'room-links' });
  const invitePrompt = h('section', { class: 'invite-prompt', role: 'alertdialog', 'aria-labelledby': 'invite-heading', 'aria-describedby': 'invite-text', hidden: true },
    h('h2', { id: 'invite-heading', text: 'Join the stage?' }),
    h('p', { id: 'invite-text' }, 'You are invited to speak. You come up muted, and unmute when you are ready.'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', id: 'accept-invite', onclick: () => act(roomId, 'accept-invite').then((st) => st && announce('You are on the stage, muted.')) }, 'Join the stage'),
      h('button', { type: 'button', class: 'secondary', id: 'decline-invite', onclick: () => act(roomId, 'decline-invite') }, 'No thanks')));
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
  // Moderators see how many hands are up without looking for the list.
  const handsCount = h('a', { href: '#hands-heading', id: 'hands-count', class: 'badge hand hands-count', onclick: (e) => {
    e.preventDefault();
    document.getElementById('hands-heading')?.scrollIntoView({ block: 'nearest' });
    hands.querySelector('button')?.focus();
  } });
  controls.append(micButton, handButton, handsCount, stepDownButton, leaveButton, endButton);
  const endDialog = h('dialog', { 'aria-labelledby': 'end-heading', class: 'confirm' },
    h('h2', { id: 'end-heading', text: 'End the room for everyone?' }),
    h('p', {}, 'Everyone leaves, and the room disappears from the hallway.'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'danger', id: 'confirm-end', onclick: async () => { endDialog.close(); await act(roomId, 'end'); } }, 'End room'),
      h('button', { type: 'button', class: 'secondary', onclick: () => endDialog.close() }, 'Cancel')));

  // A link to share: any member's app opens it at #/room/ID, and the
  // hallway's search box takes the link (or the room ID) pasted.
  const shareLink = `${location.origin}/#/room/${encodeURIComponent(roomId)}`;
  const share = copyButton('Copy room link', () => shareLink);
  share.id = 'share-room';
  share.dataset.link = shareLink;
  share.classList.add('small');

  function inRoomView() {
    return [
      h('header', { class: 'room-header' }, title, meta, audioStatus, linksLine, share),
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

    handsSection.hidden = !onStage;
    replaceKeepingFocus(hands, ...st.hands.map((p) => h('li', { 'data-key': `hand-${p}` },
      h('span', { text: store.nameOf(p) }),
      moderationFor(st, p).some(([a]) => a === 'invite-speaker')
        ? h('button', { type: 'button', class: 'small', 'data-invite': p, onclick: () => act(roomId, 'invite-speaker', p).then((r) => r && announce(`Invited ${store.nameOf(p)} to speak`)) },
          `Invite ${store.nameOf(p)} to speak`)
        : null)));
    handsEmpty.hidden = st.hands.length > 0;
    const moderating = st.role === 'host' || st.role === 'moderator';
    handsCount.hidden = !moderating || st.hands.length === 0;
    handsCount.replaceChildren(icon('hand'), st.hands.length === 1 ? '1 hand raised' : `${st.hands.length} hands raised`);

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
    handButton.hidden = !mayDo(st, 'raise-hand') && !mayDo(st, 'lower-hand');
    const handUp = st.hands.includes(me);
    handButton.replaceChildren(icon('hand'), handUp ? 'Lower hand' : 'Raise hand');
    handButton.setAttribute('aria-pressed', String(handUp));
    stepDownButton.hidden = !mayDo(st, 'step-down');
    endButton.hidden = !mayDo(st, 'end');

    if (st.role !== lastRole && lastRole) announce(roleLabels[st.role] || '');
    lastRole = st.role;
    // The room's sound outlives this view: it goes on while the user is
    // elsewhere in the app (roomsound.js).
    if (st.status === 'live') roomsound.open(roomId, openedAt);
    renderAudioStatus();
    renderLinks(st);
    renderLevels();
  }

  // How this node's audio links are carried, from room show's
  // audio.links: the link from the parent in full, the links to the
  // children counted by path.
  function renderLinks(st) {
    const links = (st.audio && st.audio.links) || [];
    const parts = [];
    const up = links.find((l) => l.role === 'parent');
    if (up) {
      const rtt = up.path ? ` · ${Math.round(up.rtt_ms)} ms` : '';
      parts.push(h('span', { class: 'link', 'data-path': up.path || 'connecting', 'data-peer': up.peer },
        `Sound from ${store.nameOf(up.peer)}: ${pathLabels[up.path] || 'connecting…'}${rtt}`));
    }
    const down = links.filter((l) => l.role === 'child');
    if (down.length) {
      const counts = {};
      for (const l of down) counts[l.path || ''] = (counts[l.path || ''] || 0) + 1;
      const kinds = Object.entries(counts).map(([p, n]) => `${n} ${pathLabels[p] || 'connecting'}`).join(', ');
      parts.push(h('span', { class: 'link', 'data-children': String(down.length) },
        `passing it on to ${down.length === 1 ? '1 listener' : `${down.length} listeners`} (${kinds})`));
    }
    linksLine.replaceChildren(...parts.flatMap((p, i) => (i ? [' · ', p] : [p])));
    linksLine.hidden = parts.length === 0;
  }

  function renderAudioStatus() {
    const sound = store.state.sound && store.state.sound.room === roomId ? store.state.sound : { listen: 'off', speak: 'off' };
    const { listen, speak } = sound;
    const parts = [];
    const listenText = { connecting: 'Connecting sound…', on: 'Listening', blocked: 'The browser is holding the sound back until you click',
      reconnecting: sound.listenDetail || 'Reconnecting sound…', failed: sound.listenDetail }[listen];
    if (listenText) parts.push(listenText);
    if (speak === 'on') parts.push('your microphone is connected');
    const play = listen === 'blocked'
      ? h('button', { type: 'button', class: 'small', id: 'play-sound', onclick: () => roomsound.playing(roomId)?.unblock() }, 'Play sound')
      : null;
    audioStatus.replaceChildren(parts.join(' · '), ...(play ? [' ', play] : []));
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
      if (await act(roomId, 'unmute-self')) audio.setMuted(false);
      return;
    }
    // Opening WHIP unmutes this node in the room, as the node's WHIP
    // endpoint does for any client; without audio, unmute still shows.
    micButton.disabled = true;
    try {
      const ok = await audio.speak();
      if (ok) api.room(roomId).then(store.setRoom).catch(() => {});
      else if (audio.status.speak === 'unavailable') await act(roomId, 'unmute-self');
    } finally {
      micButton.disabled = false;
    }
  }

  async function toggleHand() {
    const st = store.state.rooms.get(roomId);
    if (!st) return;
    const up = st.hands.includes(store.state.me.peer_id);
    if (await act(roomId, up ? 'lower-hand' : 'raise-hand')) announce(up ? 'Hand lowered' : 'Hand raised: the moderators can invite you up');
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
    const join = async () => {
      const req = entry.type === 'closed' && ticket.value.trim() ? { ticket: ticket.value.trim() } : {};
      const others = otherRooms(roomId);
      // The node leaves them for this one: that is not news.
      for (const st of others) notices.expect(st.id, 'leave');
      try {
        const st = await api.roomAction(roomId, 'join', req);
        store.setRoom(st);
        for (const st of others) {
          store.dropRoom(st.id);
          store.state.roomsGone.set(st.id, `You joined ${entry.title}.`);
        }
      } catch (err) {
        for (const st of others) notices.forget(st.id, 'leave');
        showError(err, actionErrors.join);
      }
    };
    const switchDialog = h('dialog', { 'aria-labelledby': 'switch-heading', class: 'confirm', id: 'switch-dialog' });
    const form = h('form', { class: 'card', onsubmit: (e) => {
      e.preventDefault();
      // One room at a time: joining leaves the room this node is in.
      // Leaving a stage is worth a question.
      const stage = otherRooms(roomId).find((st) => onStageRoles.has(st.role));
      if (!stage) {
        join();
        return;
      }
      switchDialog.replaceChildren(
        h('h2', { id: 'switch-heading', text: `Leave the stage of ${stage.title}?` }),
        h('p', {}, stage.role === 'host'
          ? `You host ${stage.title}. Joining this room leaves it: a moderator takes it over, or it ends.`
          : `You are on the stage of ${stage.title}. You are in one room at a time: joining this one leaves it.`),
        h('div', { class: 'actions' },
          h('button', { type: 'button', id: 'confirm-switch', onclick: () => { switchDialog.close(); join(); } }, `Leave ${stage.title} and join`),
          h('button', { type: 'button', class: 'secondary', onclick: () => switchDialog.close() }, 'Stay')));
      switchDialog.showModal();
    } },
    entry.type === 'closed' ? [h('label', { for: 'room-ticket' }, 'Room ticket (from the host)'), ticket] : null,
    h('button', { type: 'submit', id: 'join-room' }, entry.status === 'scheduled' ? 'Join when it starts' : 'Join and listen'));
    root.replaceChildren(
      h('h1', { text: entry.title, tabIndex: -1 }),
      h('p', { class: 'room-meta' }, h('span', { class: `badge type-${entry.type}`, text: entry.type }),
        ` Hosted by ${store.nameOf(entry.host)} · ${entry.listeners} listening`,
        entry.status === 'scheduled' ? ` · starts ${formatWhen(entry.start)}` : ''),
      stagePreview(entry),
      form, switchDialog);
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
  // Links come and go without a new room state: ask for them now and
  // then while in the room.
  const linksTimer = setInterval(() => {
    if (mode === 'in' && !document.hidden) api.room(roomId).then(store.setRoom).catch(() => {});
  }, linksRefresh);
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
      clearInterval(linksTimer);
      unsubscribe();
      document.removeEventListener('click', closeMenus);
    },
  };
}
