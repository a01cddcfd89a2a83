// The hallway: live rooms and scheduled ones, updated as the network
// announces them, and the form to start a room.

import * as api from '../api.js';
import * as store from '../store.js';
import { h, busy, formError, replaceKeepingFocus, formatWhen, initials, hue, showError, announce } from '../dom.js';

const typeLabels = { open: 'Open', social: 'Social', closed: 'Closed', supporters: 'Supporters' };
const typeHints = {
  open: 'any member can join',
  social: 'people you follow can join',
  closed: 'only people with a ticket from you',
  supporters: 'holders of your supporter pass (clubnode pass issue)',
};

function speakerNames(room) {
  const names = room.speakers.map(store.nameOf);
  if (names.length <= 4) return names.join(', ');
  return `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}

// avatars shows the first few speakers' faces (initials on their colour).
function avatars(room) {
  const shown = room.speakers.slice(0, 5);
  if (!shown.length) return null;
  return h('span', { class: 'avatars', 'aria-hidden': 'true' }, shown.map((p) => {
    const el = h('span', { class: 'avatar small', title: store.nameOf(p) }, initials(store.nameOf(p)));
    el.style.setProperty('--hue', hue(p));
    return el;
  }));
}

// matches says whether a room passes the hallway's search and type filter:
// the words are looked for in the title and the host's and speakers' names.
function matches(room, query, type) {
  if (type && room.type !== type) return false;
  const q = query.trim().toLowerCase();
  if (!q) return true;
  const text = [room.title, store.nameOf(room.host), ...room.speakers.map(store.nameOf)].join(' ').toLowerCase();
  return q.split(/\s+/).every((w) => text.includes(w));
}

// rank: the rooms with the people you follow on stage first, then those
// with more listeners (the node counts the followed: room.followed).
const rank = (a, b) => (b.followed || 0) - (a.followed || 0) || b.listeners - a.listeners || a.title.localeCompare(b.title);

function roomCard(room) {
  const inRoom = store.state.rooms.has(room.id);
  const listeners = room.listeners === 1 ? '1 listening' : `${room.listeners} listening`;
  return h('li', {},
    h('a', { class: 'room-card', href: `#/room/${encodeURIComponent(room.id)}`, 'data-key': room.id, 'data-room': room.id },
      h('span', { class: 'room-title', text: room.title }),
      h('span', { class: 'room-meta' },
        h('span', { class: `badge type-${room.type}`, text: typeLabels[room.type] || room.type }),
        room.status === 'scheduled' ? h('span', { class: 'badge scheduled', text: `Starts ${formatWhen(room.start)}` }) : null,
        inRoom ? h('span', { class: 'badge you', text: 'You are in' }) : null),
      h('span', { class: 'room-people' }, avatars(room), `Hosted by ${store.nameOf(room.host)}`,
        room.speakers.length ? ` · On stage: ${speakerNames(room)}` : '',
        room.followed ? ` · ${room.followed === 1 ? '1 person' : `${room.followed} people`} you follow` : ''),
      room.status === 'live' ? h('span', { class: 'room-count', text: listeners }) : null),
    room.status === 'scheduled' ? scheduledActions(room) : null);
}

// scheduledActions: "Remind me" (the node notifies when the room starts)
// and the room as a calendar file.
function scheduledActions(room) {
  const remind = h('button', { type: 'button', class: 'small secondary', 'data-remind': room.id, 'aria-pressed': String(!!room.reminded),
    onclick: async () => {
      try {
        await api.remind(room.id, !room.reminded);
        room.reminded = !room.reminded;
        store.changed('hallway');
        announce(room.reminded ? `You will be reminded when ${room.title} starts` : 'Reminder dropped');
      } catch (err) {
        showError(err, 'Could not set the reminder');
      }
    } }, room.reminded ? 'Reminder set' : 'Remind me');
  const ics = h('a', { class: 'small', 'data-ics': room.id, href: `data:text/calendar;charset=utf-8,${encodeURIComponent(calendar(room))}`,
    download: `${room.title.replace(/[^\w -]+/g, '').trim() || 'room'}.ics` }, 'Add to calendar (.ics)');
  return h('span', { class: 'scheduled-actions' }, remind, ' ', ics);
}

// calendar is an iCalendar file (RFC 5545) with the room as a one-hour
// event.
function calendar(room) {
  const stamp = (d) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const text = (s) => s.replace(/[\\;,]/g, (c) => `\\${c}`).replace(/\n/g, '\\n');
  const start = new Date(room.start);
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//clubnode//rooms//EN', 'BEGIN:VEVENT',
    `UID:${room.id}@clubnode`, `DTSTAMP:${stamp(new Date())}`, `DTSTART:${stamp(start)}`,
    `DTEND:${stamp(new Date(start.getTime() + 3600000))}`, `SUMMARY:${text(room.title)}`,
    `DESCRIPTION:${text(`A clubnode room hosted by ${store.nameOf(room.host)}. Open clubnode's hallway to join.`)}`,
    'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
}

function startForm(navigate) {
  const title = h('input', { id: 'room-title', name: 'title', required: true, maxLength: 100, placeholder: 'What will you talk about?' });
  const type = h('select', { id: 'room-type', name: 'type' },
    ...Object.keys(typeLabels).map((t) => h('option', { value: t, text: `${typeLabels[t]}: ${typeHints[t]}` })));
  const now = h('input', { type: 'radio', name: 'when', id: 'when-now', value: 'now', checked: true });
  const later = h('input', { type: 'radio', name: 'when', id: 'when-later', value: 'later' });
  const at = h('input', { type: 'datetime-local', id: 'room-start', name: 'start', disabled: true });
  const submit = h('button', { type: 'submit', id: 'start-room' }, 'Start the room now');
  const sync = () => {
    at.disabled = !later.checked;
    at.required = later.checked;
    submit.textContent = later.checked ? 'Schedule the room' : 'Start the room now';
  };
  now.addEventListener('change', sync);
  later.addEventListener('change', sync);
  const form = h('form', { class: 'card start-room', 'aria-labelledby': 'start-heading', onsubmit: (e) => {
    e.preventDefault();
    formError(form, null);
    const req = { title: title.value.trim(), type: type.value };
    if (later.checked) {
      const when = new Date(at.value);
      if (Number.isNaN(when.getTime()) || when <= new Date()) {
        formError(form, new Error('Pick a start time in the future.'));
        return;
      }
      req.start = when.toISOString();
    }
    busy(form, async () => {
      try {
        const st = await api.createRoom(req);
        store.setRoom(st);
        navigate(`#/room/${encodeURIComponent(st.id)}`);
      } catch (err) {
        formError(form, err);
      }
    });
  } },
  h('h2', { id: 'start-heading', text: 'Start a room' }),
  h('label', { for: 'room-title' }, 'Title'), title,
  h('label', { for: 'room-type' }, 'Who can join'), type,
  h('fieldset', { class: 'when' },
    h('legend', { text: 'When' }),
    h('label', { class: 'inline' }, now, ' Now'),
    h('label', { class: 'inline' }, later, ' Later, at'),
    h('label', { for: 'room-start', class: 'visually-hidden' }, 'Start time'), at),
  submit);
  return form;
}

export function mount(main, route, { navigate }) {
  const live = h('ul', { class: 'room-list', id: 'live-rooms', 'aria-labelledby': 'live-heading' });
  const scheduled = h('ul', { class: 'room-list', id: 'scheduled-rooms', 'aria-labelledby': 'scheduled-heading' });
  const liveEmpty = h('p', { class: 'empty' }, 'No live rooms here right now. Start one, and everyone in the network sees it here.');
  const scheduledEmpty = h('p', { class: 'empty' }, 'Nothing scheduled.');
  const network = store.state.me.network;

  const search = h('input', { type: 'search', id: 'hallway-search', placeholder: 'Title, host, speaker, or a room link', oninput: () => {
    // A room link (or ID) someone shared opens that room.
    const shared = search.value.match(/room-[a-z2-7]{26}/);
    if (shared) {
      navigate(`#/room/${shared[0]}`);
      return;
    }
    render();
  } });
  const typeFilter = h('select', { id: 'hallway-type', onchange: () => render() },
    h('option', { value: '', text: 'All rooms' }),
    ...Object.keys(typeLabels).map((t) => h('option', { value: t, text: typeLabels[t] })));
  const filters = h('div', { class: 'hallway-filters', role: 'search' },
    h('label', { for: 'hallway-search' }, 'Find a room'), search,
    h('label', { for: 'hallway-type' }, 'Type'), typeFilter);

  function render() {
    const rooms = store.state.hallway.filter((r) => matches(r, search.value, typeFilter.value)).sort(rank);
    const liveRooms = rooms.filter((r) => r.status === 'live');
    const later = rooms.filter((r) => r.status === 'scheduled').sort((a, b) => new Date(a.start) - new Date(b.start));
    replaceKeepingFocus(live, ...liveRooms.map(roomCard));
    replaceKeepingFocus(scheduled, ...later.map(roomCard));
    liveEmpty.hidden = liveRooms.length > 0;
    scheduledEmpty.hidden = later.length > 0;
  }

  main.append(
    h('h1', { text: 'Hallway' }),
    h('p', { class: 'lede' }, `Rooms in ${network.name}. They appear and change here as they happen.`),
    h('div', { class: 'hallway' },
      h('div', {}, filters,
        h('section', { 'aria-labelledby': 'live-heading' }, h('h2', { id: 'live-heading', text: 'Live now' }), live, liveEmpty),
        h('section', { 'aria-labelledby': 'scheduled-heading' }, h('h2', { id: 'scheduled-heading', text: 'Scheduled' }), scheduled, scheduledEmpty)),
      startForm(navigate)),
  );
  render();
  // The stream keeps the hallway current; one fetch makes the first
  // paint not wait for it. The stream sends only what changed, so the
  // fetch's answer must not replace a hallway the stream brought after
  // the fetch went out: on a busy machine it came later, older, and
  // stayed until the hallway changed again.
  let streamed = false;
  const unsubscribe = store.subscribe((key) => {
    if (key === 'hallway') streamed = true;
    if (key === 'hallway' || key === 'members' || key === 'rooms') render();
  });
  api.hallway().then((rooms) => {
    if (!streamed) store.set('hallway', rooms);
  }).catch(() => {});
  return { destroy: unsubscribe };
}
