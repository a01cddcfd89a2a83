// Small helpers for building the page from JavaScript, never from markup strings:
// text from the network (names, titles, bios) is only ever set as text,
// so it can never become markup.

// h builds an element. props: "class", "text", on<event> handlers,
// "aria-*", "data-*" and other attributes, or DOM properties (value,
// checked, disabled, hidden, type...). Children may be nodes, strings,
// arrays, or null/false (skipped).
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key.startsWith('aria-')) el.setAttribute(key, String(value));
    else if (key.startsWith('data-') || key === 'role' || key === 'for' || !(key in el)) {
      if (value !== false) el.setAttribute(key, value === true ? '' : String(value));
    } else el[key] = value;
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// svg builds an SVG element (the QR code).
export function svg(tag, attrs = {}) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

// replaceKeepingFocus swaps a container's children for new ones. If the
// focused element had a data-key, the new element with the same key gets
// the focus back, so live updates never throw a keyboard user out.
export function replaceKeepingFocus(container, ...children) {
  const focused = document.activeElement;
  const key = container.contains(focused) ? focused.closest('[data-key]')?.dataset.key : null;
  const focusedIsKeyed = key && focused.dataset.key === key;
  container.replaceChildren();
  append(container, children);
  if (!key) return;
  const same = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (same) (focusedIsKeyed ? same : same.querySelector('button, a, input, select, textarea') || same).focus();
}

let announceTimer = 0;

// announce tells screen readers about something that changed without
// moving the focus ("Bob raised a hand").
export function announce(message) {
  const el = document.getElementById('announcer');
  el.textContent = '';
  clearTimeout(announceTimer);
  // A fresh text node after a tick, so the same message twice is read twice.
  announceTimer = setTimeout(() => { el.textContent = message; }, 50);
}

// toast shows a notice everyone sees (and screen readers read: the box is
// a live region) for a while, with a button to dismiss it sooner: what
// someone else did, such as a moderator muting you.
export function toast(message, { ms = 10000 } = {}) {
  const box = document.getElementById('toasts');
  const item = h('div', { class: 'toast' },
    h('p', { text: message }),
    h('button', { type: 'button', class: 'ghost', 'aria-label': 'Dismiss this notice', onclick: () => item.remove() }, '✕'));
  box.append(item);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => item.remove(), ms);
  return item;
}

// showError puts an error where everyone sees it: readable text and a
// button to dismiss it. Errors never leave a blank page.
export function showError(err, context) {
  const text = (context ? `${context}: ` : '') + (err && err.message ? err.message : String(err));
  const box = document.getElementById('alerts');
  const item = h('div', { class: 'alert', role: 'alert' },
    h('p', { text }),
    h('button', { type: 'button', class: 'ghost', 'aria-label': 'Dismiss this message', onclick: () => item.remove() }, '✕'));
  box.append(item);
  while (box.children.length > 3) box.firstElementChild.remove();
  return item;
}

// clearErrors removes the messages showError put up.
export function clearErrors() {
  document.getElementById('alerts').replaceChildren();
}

// shortId shortens a peer ID for display: the start and the end, which is
// what people compare.
export function shortId(id) {
  return id && id.length > 14 ? `${id.slice(0, 6)}…${id.slice(-4)}` : id || '';
}

// initials for an avatar: up to two letters of a name.
export function initials(name) {
  const words = (name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || '?').slice(0, 2);
  return letters.toUpperCase();
}

// hue picks a stable avatar colour from a peer ID.
export function hue(id) {
  let x = 0;
  for (const c of id || '') x = (x * 31 + c.charCodeAt(0)) % 360;
  return x;
}

// formatWhen shows a time as people say it: "today 20:00", "Mon 3 Dec 20:00".
export function formatWhen(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return `today ${time}`;
  return `${d.toLocaleDateString([], { weekday: 'short', day: 'numeric', month: 'short' })} ${time}`;
}

// copyButton copies text to the clipboard and says so.
export function copyButton(label, getText) {
  return h('button', {
    type: 'button', class: 'secondary', onclick: async (e) => {
      const text = getText();
      try {
        await navigator.clipboard.writeText(text);
        announce('Copied');
        e.target.textContent = 'Copied';
        setTimeout(() => { e.target.textContent = label; }, 1500);
      } catch {
        showError(new Error('The browser did not allow copying; select the text and copy it yourself.'));
      }
    },
  }, label);
}

// busy disables a form's controls while a request runs, so a double click
// does not send it twice, and gives them back afterwards.
export async function busy(form, fn) {
  const controls = [...form.querySelectorAll('button, input, select, textarea')].filter((c) => !c.disabled);
  controls.forEach((c) => { c.disabled = true; });
  form.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    controls.forEach((c) => { c.disabled = false; });
    form.removeAttribute('aria-busy');
  }
}

// formError shows an error inside a form, next to what the user did.
export function formError(form, err) {
  let box = form.querySelector('.form-error');
  if (!box) {
    box = h('p', { class: 'form-error', role: 'alert' });
    form.append(box);
  }
  box.textContent = err ? (err.message || String(err)) : '';
  box.hidden = !err;
}
