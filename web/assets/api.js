// The HTTP API, as the pages use it (docs/api.md). Every failure becomes an ApiError whose
// message is a sentence a person can read: the server's `error` when it sent one (errors
// are JSON {"error", "code"}), else a description of what went wrong on the way.

export class ApiError extends Error {
  constructor(message, { status = 0, code = 'network' } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/// "the file is not a video" → "The file is not a video."
const sentence = (s) => s[0].toUpperCase() + s.slice(1) + (/[.!?)]$/.test(s) ? '' : '.');

/// Turns a non-2xx answer into an ApiError, reading the JSON error body when there is one.
function errorFrom(status, contentType, body) {
  if (contentType && contentType.includes('application/json')) {
    try {
      const json = typeof body === 'string' ? JSON.parse(body) : body;
      if (json && typeof json.error === 'string' && json.error) {
        return new ApiError(sentence(json.error), { status, code: json.code ?? 'error' });
      }
    } catch {
      // Not JSON after all: fall through to the generic sentence.
    }
  }
  const generic = {
    400: 'The server could not understand the request.',
    401: 'This server needs an API key for that.',
    404: 'Not found.',
    413: 'The file is larger than the server accepts.',
    415: 'That file is not a video the server can read.',
    503: 'The server is busy. Try again in a moment.',
  };
  return new ApiError(generic[status] ?? `The server answered with an error (HTTP ${status}).`, {
    status,
    code: 'http_' + status,
  });
}

// A server started with --api-key wants the key on every request that changes state.
// The page asks for it once (the upload dialog) and keeps it in this browser.
const KEY_STORAGE = 'reel.apiKey';

export function apiKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export function setApiKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage refused (private mode): the key lasts as long as the page.
  }
  memoryKey = key;
}

let memoryKey = '';
const currentKey = () => apiKey() || memoryKey;

function authHeaders(method) {
  const key = currentKey();
  return key && method !== 'GET' ? { Authorization: `Bearer ${key}` } : {};
}

/// One API call; `body`, when given, is sent as JSON.
async function request(method, url, body) {
  let res;
  const headers = { Accept: 'application/json', ...authHeaders(method) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError('The server cannot be reached.');
  }
  if (!res.ok) throw errorFrom(res.status, res.headers.get('content-type'), await res.text());
  return res.status === 204 ? null : res.json();
}

export const listVideos = () => request('GET', '/api/videos').then((r) => r.videos ?? []);
export const getVideo = (id) => request('GET', `/api/videos/${encodeURIComponent(id)}`);
export const deleteVideo = (id) => request('DELETE', `/api/videos/${encodeURIComponent(id)}`);

/// POSTs a multipart upload with XMLHttpRequest, the one browser API that reports upload
/// progress. Fields go before the file so a streaming server knows them early.
/// Returns { promise, abort }; `promise` resolves to the video object (202).
export function uploadVideo({ file, heights, segmentSeconds, format }, onProgress) {
  const form = new FormData();
  if (heights?.length) form.append('heights', heights.join(','));
  form.append('segment_seconds', String(segmentSeconds));
  form.append('format', format);
  form.append('file', file, file.name);

  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', '/api/videos');
    xhr.setRequestHeader('Accept', 'application/json');
    for (const [name, value] of Object.entries(authHeaders('POST'))) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener('progress', (e) => {
      onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError('The server accepted the file but its answer was unreadable.'));
        }
      } else {
        reject(errorFrom(xhr.status, xhr.getResponseHeader('content-type'), xhr.responseText));
      }
    });
    xhr.addEventListener('error', () =>
      reject(new ApiError('The upload was cut off: the server closed the connection or cannot be reached.')),
    );
    xhr.addEventListener('abort', () => reject(new ApiError('Upload cancelled.', { code: 'aborted' })));
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

/// Follows a video's SSE stream: `progress` events (the video object), then one `ready` or
/// `failed`, after which the server closes the stream. EventSource would reconnect on its
/// own; we close it once the story has ended. Returns a function that stops listening.
/// `onLost` runs if the browser gives up on the stream before the end (then poll).
export function followVideo(video, { onProgress, onDone, onLost }) {
  const source = new EventSource(video.links?.events ?? `/api/videos/${video.id}/events`);
  let finished = false;
  const parse = (e) => {
    try {
      return JSON.parse(e.data);
    } catch {
      return null;
    }
  };
  source.addEventListener('progress', (e) => {
    const v = parse(e);
    if (v) onProgress?.(v);
  });
  for (const kind of ['ready', 'failed']) {
    source.addEventListener(kind, (e) => {
      finished = true;
      source.close();
      onDone?.(parse(e) ?? { ...video, status: kind });
    });
  }
  source.addEventListener('error', () => {
    // A closed stream after the final event is expected. Otherwise the browser retries by
    // itself (readyState CONNECTING); if it gave up (CLOSED), the caller must poll instead.
    if (finished || source.readyState !== EventSource.CLOSED) return;
    finished = true;
    onLost?.();
  });
  return () => {
    finished = true;
    source.close();
  };
}

// ---- live sessions (docs/sessions.md) ----

const sessionUrl = (id, tail = '') => `/api/sessions/${encodeURIComponent(id)}${tail}`;

/// `source` is {video: id} or {library: path}; optional start, height, audio_track, rate.
export const createSession = (source) => request('POST', '/api/sessions', source);
export const sessionStatus = (id) => request('GET', sessionUrl(id, '/status'));
/// pause | resume | seek {position} | tracks {audio_track} | rate {rate} → the session.
export const sessionAction = (id, action, body = {}) => request('POST', sessionUrl(id, `/${action}`), body);
export const deleteSession = (id) => request('DELETE', sessionUrl(id));
/// Ends a session while the page goes away (a request that outlives the page).
export function dropSession(id) {
  try {
    fetch(sessionUrl(id), { method: 'DELETE', keepalive: true, headers: authHeaders('DELETE') });
  } catch {
    // The idle expiry will do it.
  }
}
