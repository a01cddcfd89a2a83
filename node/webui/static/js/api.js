// The node's JSON API, as the page uses it. The session cookie goes along
// by itself (same origin); every request that changes something carries
// the CSRF token the node gave this session.

let csrfHeader = 'X-Clubnode-CSRF';
let csrfToken = '';

// ApiError is an error answer, with the node's own readable message.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

const unreachable = 'Cannot reach your clubnode daemon. Is it still running? Start it with: clubnode daemon';

async function send(method, path, { body, contentType, accept = 'application/json' } = {}) {
  const headers = { Accept: accept };
  if (contentType) headers['Content-Type'] = contentType;
  if (method !== 'GET' && method !== 'HEAD') headers[csrfHeader] = csrfToken;
  let resp;
  try {
    resp = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store', redirect: 'error' });
  } catch {
    throw new ApiError(0, unreachable);
  }
  if (!resp.ok) {
    let message = `${resp.status} ${resp.statusText}`;
    try {
      const data = await resp.json();
      if (data && data.error) message = data.error;
    } catch { /* not our JSON: keep the status line */ }
    throw new ApiError(resp.status, message);
  }
  return resp;
}

async function json(method, path, body) {
  const resp = await send(method, path, body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' });
  return resp.json();
}

const roomPath = (id) => `/api/v1/rooms/${encodeURIComponent(id)}`;

// startSession asks for this browser's CSRF token; it fails with status
// 401 when the browser is not signed in.
export async function startSession() {
  const s = await json('GET', '/api/v1/session');
  csrfHeader = s.csrf_header;
  csrfToken = s.csrf_token;
}

export const identity = () => json('GET', '/api/v1/id');
export const createNetwork = (name) => json('POST', '/api/v1/network', { name });
export const createInvite = (req) => json('POST', '/api/v1/invites', req);
export const join = (token) => json('POST', '/api/v1/join', { token });
export const inspectInvite = (token) => json('POST', '/api/v1/invites/inspect', { token });
export const inviteQR = (token) => json('POST', '/api/v1/invites/qr', { token });
export const members = () => json('GET', '/api/v1/members');
export const profile = (peer) => json('GET', `/api/v1/profile/${encodeURIComponent(peer)}`);
export const setProfile = (name, bio, support) => json('POST', '/api/v1/profile', support === undefined ? { name, bio } : { name, bio, support });
export const hallway = () => json('GET', '/api/v1/rooms');
export const createRoom = (req) => json('POST', '/api/v1/rooms', req);
export const room = (id) => json('GET', roomPath(id));
export const roomAction = (id, action, req = {}) => json('POST', `${roomPath(id)}/${encodeURIComponent(action)}`, req);
export const follow = (peer, on) => json('POST', '/api/v1/follows', { peer, on });
export const block = (peer, on) => json('POST', '/api/v1/blocks', { peer, on });
export const remind = (room, on) => json('POST', '/api/v1/reminders', { room, on });
export const relations = () => json('GET', '/api/v1/relations');
export const settings = () => json('GET', '/api/v1/settings');
export const saveSettings = (req) => json('POST', '/api/v1/settings', req);
export const logout = () => json('POST', '/api/v1/session/logout', {});

// offerMedia posts an SDP offer to a room's WHIP ("whip", to speak) or
// WHEP ("whep", to listen) endpoint and returns the answer and the
// session's Location, which ends it when deleted.
export async function offerMedia(roomId, kind, sdp) {
  const resp = await send('POST', `${roomPath(roomId)}/${kind}`, { body: sdp, contentType: 'application/sdp', accept: 'application/sdp' });
  return { answer: await resp.text(), location: resp.headers.get('Location') };
}

// endMedia ends a WHIP or WHEP session; the page is leaving it anyway, so
// a failure only matters to the log.
export async function endMedia(location) {
  if (!location) return;
  try {
    await send('DELETE', location);
  } catch (err) {
    console.info('ending a media session:', err.message);
  }
}
