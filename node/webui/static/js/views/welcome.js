// First run: the node has an identity but no network. Say who you are,
// then join with an invite (token or link) or found a new network.

import * as api from '../api.js';
import * as store from '../store.js';
import { h, busy, formError, announce, shortId } from '../dom.js';

// What was pasted (a token, or an invite link at any address from a chat
// or a QR code) goes to the node as it is: the node finds the token in it.
export function inviteFrom(text) {
  return (text || '').trim();
}

// previewOf says who invites you to which network, as the inviter's
// node told this node, before you join.
function previewOf(pv) {
  const who = pv.inviter_name || shortId(pv.inviter_id);
  const net = pv.network.name || 'their network';
  const until = new Date(pv.expires).toLocaleString();
  const lines = [h('p', { class: 'preview-who' }, h('strong', { text: who }), ' invites you to ', h('strong', { text: net }), '.')];
  if (pv.expired) lines.push(h('p', { class: 'preview-problem' }, `This invite expired on ${until}: ask ${who} for a new one.`));
  else lines.push(h('p', { class: 'hint' }, `Valid until ${until}.`));
  if (pv.for && !pv.for_you) lines.push(h('p', { class: 'preview-problem' }, 'This invite is for someone else\'s node: it will not let you in.'));
  else if (pv.uses_left === 0) lines.push(h('p', { class: 'preview-problem' }, `It has been used up: ask ${who} for a new one.`));
  else if (pv.uses_left > 0) lines.push(h('p', { class: 'hint' }, pv.uses === 1 ? 'It lets one person in.' : `${pv.uses_left} of ${pv.uses} uses left.`));
  else if (!pv.online) lines.push(h('p', { class: 'hint' }, `${who}'s node cannot be reached right now, so the network's name and the uses left are unknown. Joining keeps trying.`));
  return lines;
}

export function mount(main, route) {
  const me = store.state.me;

  const name = h('input', { id: 'me-name', name: 'name', required: true, maxLength: 64, autocomplete: 'nickname', value: me.name || '' });
  const bio = h('textarea', { id: 'me-bio', name: 'bio', rows: 2, maxLength: 280, value: '' });
  const token = h('textarea', { id: 'invite-token', name: 'token', rows: 3, required: true, spellcheck: false,
    placeholder: 'clubnode-invite:… or a link with #/join/…', value: route.invite || '' });
  const networkName = h('input', { id: 'network-name', name: 'network', required: true, maxLength: 64 });
  const preview = h('div', { class: 'invite-preview', id: 'invite-preview', 'aria-live': 'polite' });

  // Show what the invite is as soon as there is one: on arrival from a
  // link, and a moment after a paste or an edit.
  let previewTimer = 0;
  let previewSeq = 0;
  function showPreview() {
    clearTimeout(previewTimer);
    const text = inviteFrom(token.value);
    if (!text) { preview.replaceChildren(); return; }
    const seq = ++previewSeq;
    preview.replaceChildren(h('p', { class: 'hint' }, 'Asking the inviter\'s node about this invite…'));
    api.inspectInvite(text).then((pv) => {
      if (seq === previewSeq) preview.replaceChildren(...previewOf(pv));
    }, (err) => {
      if (seq === previewSeq) preview.replaceChildren(h('p', { class: 'preview-problem' }, err.message));
    });
  }
  token.addEventListener('input', () => { clearTimeout(previewTimer); previewTimer = setTimeout(showPreview, 400); });

  // The name and bio are saved first, so the network learns them with the
  // node's first profile.
  // The name field sits outside both forms, so "required" alone does not
  // stop a submit: an empty name is refused here, before anything is sent.
  async function saveProfile() {
    const n = name.value.trim();
    if (!n) {
      name.focus();
      throw new Error('Give your name first: it is what other members see.');
    }
    if (n !== me.name || bio.value.trim()) await api.setProfile(n, bio.value.trim());
  }

  async function entered(text) {
    history.replaceState(null, '', '#/');
    store.set('me', await api.identity());
    announce(text);
  }

  const joinForm = h('form', { class: 'card', 'aria-labelledby': 'join-heading', onsubmit: (e) => {
    e.preventDefault();
    formError(joinForm, null);
    busy(joinForm, async () => {
      try {
        await saveProfile();
        const res = await api.join(inviteFrom(token.value));
        await entered(`You joined ${res.network.name}.`);
      } catch (err) {
        formError(joinForm, err);
      }
    });
  } },
  h('h2', { id: 'join-heading', text: 'Join with an invite' }),
  h('p', { class: 'hint' }, 'Paste the invite token or link someone gave you. Joining reaches their node over the internet, which can take a few seconds.'),
  h('label', { for: 'invite-token' }, 'Invite token or link'),
  token,
  preview,
  h('button', { type: 'submit', id: 'join-button' }, 'Join the network'));

  const foundForm = h('form', { class: 'card', 'aria-labelledby': 'found-heading', onsubmit: (e) => {
    e.preventDefault();
    formError(foundForm, null);
    busy(foundForm, async () => {
      try {
        await saveProfile();
        const net = await api.createNetwork(networkName.value.trim());
        await entered(`You founded ${net.name}. Invite people from your profile.`);
      } catch (err) {
        formError(foundForm, err);
      }
    });
  } },
  h('h2', { id: 'found-heading', text: 'Start a new network' }),
  h('p', { class: 'hint' }, 'You become its founder: everyone who joins later is invited by you or by someone you invited.'),
  h('label', { for: 'network-name' }, 'Network name'),
  networkName,
  h('button', { type: 'submit', id: 'found-button' }, 'Create the network'));

  main.append(
    h('h1', { text: 'Welcome to clubnode' }),
    h('p', { class: 'lede' }, 'Live audio rooms with the people you know, on an invite-only network with no company in the middle. '
      + 'Your computer runs a node; its key is your identity.'),
    h('p', { class: 'hint' }, 'Your peer ID: ', h('code', { title: me.peer_id, text: shortId(me.peer_id) })),
    h('section', { class: 'card', 'aria-labelledby': 'about-heading' },
      h('h2', { id: 'about-heading', text: 'About you' }),
      h('label', { for: 'me-name' }, 'Your name'), name,
      h('label', { for: 'me-bio' }, 'A line about you (optional)'), bio),
    h('div', { class: 'columns' }, joinForm, foundForm),
  );
  if (route.invite) {
    token.focus();
    showPreview();
  }
  return { destroy: () => clearTimeout(previewTimer) };
}
