// Profiles: yours (edit name and bio, invite people) or a member's
// (follow, block). Both show who invited whom, up to the founder.

import * as api from '../api.js';
import * as store from '../store.js';
import { h, busy, formError, showError, announce, copyButton, replaceKeepingFocus, initials, hue, shortId } from '../dom.js';

// An invite link is this app's address with the token in the fragment
// (#/join/TOKEN): the fragment never leaves the browser, and every
// clubnode app, at any address and port, reads it. An invitee whose app
// runs elsewhere pastes the link (or the token) into their own app's
// join form, or runs clubnode join LINK: both find the token in it.
export function inviteLink(token) {
  return `${location.origin}/#/join/${token}`;
}

// inviteQR shows the node's QR code of the token's text form, which
// names no host or port: a phone that scans it gets text to paste into
// its own app, where a link to 127.0.0.1 would open nothing.
async function inviteQR(token) {
  const qr = await api.inviteQR(token);
  const doc = new DOMParser().parseFromString(qr.svg, 'image/svg+xml');
  const svg = document.importNode(doc.documentElement, true);
  if (svg.nodeName.toLowerCase() !== 'svg') throw new Error('the node drew no QR code');
  svg.classList.add('qr');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'QR code of the invite token');
  svg.dataset.text = qr.text;
  return svg;
}

const expiryChoices = [
  [3600, '1 hour'], [86400, '1 day'], [259200, '3 days'], [604800, '1 week'], [2592000, '30 days'],
];

function personLink(peer) {
  return h('a', { href: `#/profile/${encodeURIComponent(peer)}` }, store.nameOf(peer));
}

function inviteForm() {
  const uses = h('input', { type: 'number', id: 'invite-uses', min: 1, max: 100, value: 1, required: true });
  const expires = h('select', { id: 'invite-expires' }, expiryChoices.map(([s, label]) => h('option', { value: s, text: label, selected: s === 259200 })));
  const forPeer = h('input', { id: 'invite-for', spellcheck: false, placeholder: 'Optional: their peer ID' });
  const result = h('div', { class: 'invite-result', id: 'invite-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'card', 'aria-labelledby': 'invite-heading', onsubmit: (e) => {
    e.preventDefault();
    formError(form, null);
    busy(form, async () => {
      try {
        const inv = await api.createInvite({ uses: Number(uses.value), expires_seconds: Number(expires.value), for: forPeer.value.trim() });
        showInvite(result, inv);
      } catch (err) {
        formError(form, err);
      }
    });
  } },
  h('h2', { id: 'invite-heading', text: 'Invite someone' }),
  h('p', { class: 'hint' }, 'An invite is signed by you: whoever joins with it shows "invited by" you for good.'),
  h('div', { class: 'row' },
    h('div', {}, h('label', { for: 'invite-uses' }, 'How many people can use it'), uses),
    h('div', {}, h('label', { for: 'invite-expires' }, 'Valid for'), expires)),
  h('label', { for: 'invite-for' }, 'Only for this peer ID (works even while you are offline)'), forPeer,
  h('button', { type: 'submit', id: 'create-invite' }, 'Create invite'),
  result);
  return form;
}

function showInvite(box, inv) {
  const link = inviteLink(inv.token);
  const uses = inv.uses === 1 ? 'one person' : `${inv.uses} people`;
  box.replaceChildren(
    h('p', { class: 'note' }, `Invite to ${inv.network.name} for ${uses}, valid until ${new Date(inv.expires).toLocaleString()}.`),
    h('label', { for: 'invite-token-out' }, 'Token'),
    h('textarea', { id: 'invite-token-out', readOnly: true, rows: 3, spellcheck: false, value: inv.token }),
    h('div', { class: 'actions' }, copyButton('Copy token', () => inv.token), copyButton('Copy link', () => link)),
    h('p', {}, 'Link: ', h('a', { id: 'invite-link', href: link, class: 'break', title: link,
      text: `${link.slice(0, 60)}…${link.slice(-8)}` })),
    h('p', { class: 'hint' }, 'The link opens in any clubnode app: someone whose app runs at another address pastes it into their own join form.'));
  const figure = h('figure', { class: 'qr-figure', id: 'invite-qr' },
    h('figcaption', {}, 'Scan with a phone to copy the token, then paste it into your clubnode app.'));
  box.append(figure);
  inviteQR(inv.token).then((svg) => figure.prepend(svg), (err) => showError(err, 'Could not draw the QR code'));
  announce('Invite created');
}

// supportButton is a member's support link, as a button that opens it
// outside the app (no referrer, no access back to this page).
function supportButton(m) {
  if (!m.support || !/^https?:\/\//.test(m.support)) return null;
  return h('p', { 'data-key': 'support' }, h('a', { class: 'button', id: 'support-link', href: m.support, target: '_blank', rel: 'noopener noreferrer external' },
    `Support ${m.name || 'them'}`));
}

export function mount(main, route) {
  const myId = store.state.me.peer_id;
  const peer = route.id || myId;
  const mine = peer === myId;
  let profile = null;
  let relations = { follows: [], blocks: [] };

  const header = h('div', { class: 'profile-header' });
  const details = h('div', { class: 'profile-details' });
  const people = h('ul', { class: 'member-list', id: 'members' });
  const peopleEmpty = h('p', { class: 'empty' }, 'Only you so far. Invite someone!');

  function memberOf(id) {
    return store.member(id) || (id === peer ? profile : null);
  }

  function render() {
    const m = memberOf(peer) || { peer_id: peer, name: store.nameOf(peer), bio: '', chain: [], invited_by: '' };
    const founder = m.chain && m.chain.length === 1;
    const network = store.state.me.network;
    const avatar = h('span', { class: 'avatar big', 'aria-hidden': 'true' }, initials(m.name));
    avatar.style.setProperty('--hue', hue(peer));
    replaceKeepingFocus(header,
      avatar,
      h('div', {},
        h('h1', { tabIndex: -1, 'data-key': 'heading' }, mine ? `${m.name || 'You'} (you)` : m.name || shortId(peer)),
        m.bio ? h('p', { class: 'bio', text: m.bio }) : null,
        supportButton(m),
        h('p', { class: 'hint' }, 'Peer ID ', h('code', { class: 'break', text: peer })),
        mine ? null : relationButtons()));

    const invitedBy = founder
      ? h('p', { id: 'invited-by' }, `Founder of ${network.name}.`)
      : m.invited_by ? h('p', { id: 'invited-by' }, 'Invited by ', personLink(m.invited_by), '.') : null;
    const chain = (m.chain || []).length > 1
      ? h('section', { 'aria-labelledby': 'chain-heading' },
        h('h2', { id: 'chain-heading', text: 'Chain of invitations' }),
        h('ol', { class: 'chain', id: 'chain' }, m.chain.map((p) => h('li', {}, personLink(p), p === m.chain[0] ? ' (founder)' : ''))))
      : null;
    const invitees = store.state.members.filter((x) => x.invited_by === peer);
    replaceKeepingFocus(details,
      invitedBy, chain,
      h('section', { 'aria-labelledby': 'invitees-heading' },
        h('h2', { id: 'invitees-heading', text: mine ? 'People you invited' : `People ${m.name || 'they'} invited` }),
        invitees.length
          ? h('ul', { id: 'invitees' }, invitees.map((x) => h('li', { 'data-key': `inv-${x.peer_id}` }, personLink(x.peer_id))))
          : h('p', { class: 'empty' }, 'Nobody yet.')));

    const others = store.state.members.filter((x) => x.peer_id !== myId);
    peopleEmpty.hidden = others.length > 0;
    replaceKeepingFocus(people, ...others
      .sort((a, b) => (a.name || '').localeCompare(b.name || ''))
      .map((x) => h('li', { 'data-key': `m-${x.peer_id}` },
        personLink(x.peer_id),
        h('span', { class: x.connected ? 'dot online' : 'dot', title: x.connected ? 'connected' : 'not connected' }),
        h('span', { class: 'visually-hidden', text: x.connected ? ' (connected)' : ' (not connected)' }))));
  }

  function relationButtons() {
    const following = relations.follows.includes(peer);
    const blocked = relations.blocks.includes(peer);
    const toggle = (fn, on, done) => async () => {
      try {
        await fn(peer, on);
        relations = await api.relations();
        render();
        announce(done);
      } catch (err) {
        showError(err, 'Could not change it');
      }
    };
    return h('div', { class: 'actions', 'data-key': 'relations' },
      h('button', { type: 'button', id: 'follow-button', 'data-key': 'follow', 'aria-pressed': String(following),
        onclick: toggle(api.follow, !following, following ? 'Unfollowed' : 'Following') }, following ? 'Following' : 'Follow'),
      h('button', { type: 'button', id: 'block-button', 'data-key': 'block', class: blocked ? 'secondary' : 'danger-outline', 'aria-pressed': String(blocked),
        onclick: toggle(api.block, !blocked, blocked ? 'Unblocked' : 'Blocked: they cannot join rooms you host') }, blocked ? 'Unblock' : 'Block'));
  }

  const editForm = () => {
    const me = store.state.me;
    const m = store.member(myId) || {};
    const name = h('input', { id: 'edit-name', required: true, maxLength: 64, value: me.name || '' });
    const bio = h('textarea', { id: 'edit-bio', rows: 3, maxLength: 280, value: m.bio || '' });
    const support = h('input', { type: 'url', id: 'edit-support', maxLength: 300, value: m.support || '', placeholder: 'https://…' });
    const form = h('form', { class: 'card', 'aria-labelledby': 'edit-heading', onsubmit: (e) => {
      e.preventDefault();
      formError(form, null);
      busy(form, async () => {
        try {
          await api.setProfile(name.value.trim(), bio.value.trim(), support.value.trim());
          store.set('me', await api.identity());
          announce('Profile saved');
        } catch (err) {
          formError(form, err);
        }
      });
    } },
    h('h2', { id: 'edit-heading', text: 'Your name and bio' }),
    h('label', { for: 'edit-name' }, 'Name'), name,
    h('label', { for: 'edit-bio' }, 'Bio'), bio,
    h('label', { for: 'edit-support' }, 'Support link (optional): where listeners can tip or subscribe'), support,
    h('p', { class: 'hint' }, 'Shown as a button on your profile. Payments happen on that site, not in clubnode.'),
    h('button', { type: 'submit', id: 'save-profile' }, 'Save'));
    return form;
  };

  main.append(h('div', { class: 'profile' },
    header,
    h('div', { class: 'columns' },
      h('div', {}, details,
        mine ? h('section', { 'aria-labelledby': 'members-heading' },
          h('h2', { id: 'members-heading', text: `Everyone in ${store.state.me.network.name}` }), people, peopleEmpty) : null),
      mine ? h('div', {}, inviteForm(), editForm()) : null)));
  render();

  api.profile(peer).then((p) => { profile = p; render(); }).catch((err) => {
    if (err.status === 404) details.prepend(h('p', { class: 'note' }, 'This node has not met this member yet.'));
  });
  if (!mine) api.relations().then((r) => { relations = r; render(); }).catch(() => {});
  const unsubscribe = store.subscribe((key) => {
    if (key === 'members' || key === 'me') render();
  });
  return { destroy: unsubscribe };
}
