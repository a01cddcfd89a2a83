// Settings: the microphone (kept in this browser), and the node's relay
// capacity and API address (kept in its config file, used from the
// daemon's next start).

import * as api from '../api.js';
import { chosenMicrophone, chooseMicrophone, microphoneConstraints, voiceProcessing, setVoiceProcessing } from '../audio.js';
import { h, busy, formError, announce } from '../dom.js';
import * as notify from '../notify.js';

async function microphones() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return [];
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((d) => d.kind === 'audioinput' && d.deviceId !== 'default' && d.deviceId !== 'communications');
}

function microphoneSection() {
  const select = h('select', { id: 'microphone' });
  const reveal = h('button', { type: 'button', class: 'secondary', id: 'show-microphones', hidden: true }, 'Show microphone names');
  const note = h('p', { class: 'hint' }, 'Used when you speak in a room.');
  const processing = h('input', { type: 'checkbox', id: 'voice-processing', checked: voiceProcessing() });
  processing.addEventListener('change', () => {
    setVoiceProcessing(processing.checked);
    announce(processing.checked ? 'Voice processing on, from the next time you unmute.'
      : 'Voice processing off, from the next time you unmute. Use headphones, or the room hears itself.');
  });
  async function fill() {
    const mics = await microphones();
    const chosen = chosenMicrophone();
    select.replaceChildren(
      h('option', { value: '', text: 'Default microphone' }),
      ...mics.map((m, i) => h('option', { value: m.deviceId, text: m.label || `Microphone ${i + 1}`, selected: m.deviceId === chosen })));
    // Browsers name devices only once the page may use the microphone.
    reveal.hidden = mics.length === 0 || mics.some((m) => m.label);
  }
  select.addEventListener('change', () => {
    chooseMicrophone(select.value);
    announce('Microphone saved. It is used the next time you unmute.');
  });
  reveal.addEventListener('click', async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(microphoneConstraints(''));
      stream.getTracks().forEach((t) => t.stop());
      await fill();
    } catch (err) {
      note.textContent = `The browser did not allow the microphone: ${err.message}`;
    }
  });
  fill().catch((err) => { note.textContent = `Cannot list microphones: ${err.message}`; });
  return h('section', { class: 'card', 'aria-labelledby': 'mic-heading' },
    h('h2', { id: 'mic-heading', text: 'Microphone' }),
    h('label', { for: 'microphone' }, 'Microphone'), select, reveal, note,
    h('label', { class: 'inline' }, processing, ' Voice processing: echo cancellation, noise suppression, automatic gain'),
    h('p', { class: 'hint' }, 'Keep it on with speakers. Turn it off for music, or with a headset that does its own.'));
}

function nodeSection() {
  const relay = h('input', { type: 'number', id: 'relay-capacity', min: 0, max: 1000, required: true });
  const apiAddr = h('input', { id: 'api-addr', required: true, spellcheck: false, autocomplete: 'off' });
  const status = h('p', { class: 'note', id: 'settings-status', role: 'status' });
  const relayNow = h('p', { class: 'hint', id: 'relay-in-effect' });
  const apiNow = h('p', { class: 'hint', id: 'api-in-effect' });
  const form = h('form', { class: 'card', 'aria-labelledby': 'node-heading', onsubmit: (e) => {
    e.preventDefault();
    formError(form, null);
    busy(form, async () => {
      try {
        // Only what changed: a field left alone stays as the file has it.
        const req = {};
        if (Number(relay.value) !== saved.relay_capacity) req.relay_capacity = Number(relay.value);
        if (apiAddr.value.trim() !== saved.api_addr) req.api_addr = apiAddr.value.trim();
        if (Object.keys(req).length === 0) {
          status.textContent = 'Nothing changed: nothing to save.';
          return;
        }
        show(await api.saveSettings(req), true);
        announce('Settings saved');
      } catch (err) {
        formError(form, err);
      }
    });
  } },
  h('h2', { id: 'node-heading', text: 'This node' }),
  h('label', { for: 'relay-capacity' }, 'Relay capacity: listeners this node passes each room\'s sound on to'),
  relay, relayNow,
  h('p', { class: 'hint' }, 'Relaying helps rooms grow past what the host can send alone. 0 means listen only; a desktop on home internet manages a few.'),
  h('label', { for: 'api-addr' }, 'API address (this app and the command line)'),
  apiAddr, apiNow,
  h('p', { class: 'hint' }, 'A loopback address and port, such as 127.0.0.1:7700: only this computer can drive the node.'),
  h('button', { type: 'submit', id: 'save-settings' }, 'Save'),
  status);
  let saved = {};
  // show fills the form from the file and says, per field, what the daemon
  // uses and where that comes from; justSaved is true after a Save.
  function show(s, justSaved = false) {
    saved = s;
    relay.value = s.relay_capacity;
    apiAddr.value = s.api_addr;
    const now = s.in_effect || {};
    relayNow.textContent = inEffect(String(now.relay_capacity), now.relay_capacity_from, '--relay-capacity');
    apiNow.textContent = inEffect(s.running_api_addr, now.api_addr_from, '--api');
    const moved = s.api_addr !== s.running_api_addr && !s.api_addr.endsWith(':0');
    const overridden = [now.relay_capacity_from, now.api_addr_from].includes('flag');
    const fromFile = [now.relay_capacity_from, now.api_addr_from].includes('file');
    if (s.restart_needed) {
      status.textContent = `${justSaved ? 'Saved' : 'Changed since the daemon started'} in ${s.config_path}. Restart the daemon to use the new settings.`
        + (overridden ? ' A command-line flag given again still wins over the file.' : '')
        + (moved ? ` The app will then be at http://${s.api_addr}/ (sign in there with clubnode ui).` : '');
    } else if (overridden) {
      status.textContent = `Command-line flags override ${s.config_path} for this run, as each field says; Save writes the file for the next start.`;
    } else {
      status.textContent = `The daemon runs with ${fromFile ? `the settings of ${s.config_path}` : 'the default settings'}; this app is at http://${s.running_api_addr}/.`;
    }
  }
  api.settings().then(show).catch((err) => formError(form, err));
  return form;
}

// inEffect says what a setting is now and where it comes from.
function inEffect(value, from, flag) {
  const source = { file: 'from the config file', flag: `from the daemon's command line (${flag}), which overrides the config file`, default: 'the default' }[from];
  return `In effect now: ${value}${source ? `, ${source}` : ''}.`;
}

function notificationsSection() {
  const box = h('input', { type: 'checkbox', id: 'notifications', checked: notify.wanted() });
  const note = h('p', { class: 'hint', id: 'notifications-status', role: 'status' });
  box.addEventListener('change', async () => {
    try {
      const on = await notify.enable(box.checked);
      note.textContent = on ? 'Notifications on in this browser.' : 'Notifications off.';
    } catch (err) {
      box.checked = false;
      note.textContent = `Notifications stay off: ${err.message}.`;
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'notifications-heading' },
    h('h2', { id: 'notifications-heading', text: 'Notifications' }),
    h('label', { class: 'inline' }, box, ' Notify me when someone I follow starts a room or goes on stage, and when a room I asked to be reminded of starts'),
    note);
}

function sessionSection() {
  return h('section', { class: 'card', 'aria-labelledby': 'session-heading' },
    h('h2', { id: 'session-heading', text: 'This browser' }),
    h('p', { class: 'hint' }, 'Signing out ends this browser\'s session; ', h('code', { text: 'clubnode ui' }), ' signs it in again.'),
    h('button', { type: 'button', class: 'secondary', id: 'sign-out', onclick: async () => {
      try {
        await api.logout();
      } finally {
        location.reload();
      }
    } }, 'Sign out'));
}

export function mount(main) {
  main.append(
    h('h1', { text: 'Settings' }),
    h('div', { class: 'columns' }, h('div', {}, microphoneSection(), notificationsSection(), sessionSection()), nodeSection()));
  return {};
}
