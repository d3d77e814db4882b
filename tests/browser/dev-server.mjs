// A stand-in for `reel serve`, for working on the pages while the HTTP server is being
// written. It follows /work/shared/API.md for the parts the dashboard uses (upload, list,
// events, delete, /media, the page and /vendor/hls.min.js) and does the real work with the
// real engine (`reel transcode`), so the player sees real HLS. The tests use `reel serve`.
//
//   node tests/browser/dev-server.mjs --reel target/debug/reel --media /tmp/media --port 8090

import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const reel = path.resolve(args.reel ?? path.join(root, 'target/debug/reel'));
const media = path.resolve(args.media ?? '/tmp/reel-dev-media');
const port = Number(args.port ?? 8090);
const web = path.join(root, 'web');
fs.mkdirSync(media, { recursive: true });

const videos = new Map(); // id -> video object
const listeners = new Map(); // id -> Set<(event, video) => void>

for (const id of fs.readdirSync(media)) {
  try {
    const v = JSON.parse(fs.readFileSync(path.join(media, id, 'manifest.json'), 'utf8'));
    videos.set(id, { ...v, id, links: links(id) });
  } catch {}
}

function links(id) {
  return {
    master: `/media/${id}/master.m3u8`,
    manifest: `/media/${id}/manifest.json`,
    poster: `/media/${id}/poster.jpg`,
    events: `/api/videos/${id}/events`,
  };
}

function emit(id, event) {
  for (const l of listeners.get(id) ?? []) l(event, videos.get(id));
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
const fail = (res, status, code, error) => json(res, status, { error, code });

const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.m3u8': 'application/vnd.apple.mpegurl', '.mp4': 'video/mp4',
  '.m4s': 'video/iso.segment', '.ts': 'video/mp2t', '.jpg': 'image/jpeg', '.json': 'application/json',
  '.svg': 'image/svg+xml', '.map': 'application/json',
};

function sendFile(res, file, base) {
  const resolved = path.resolve(file);
  if (!resolved.startsWith(base + path.sep)) return fail(res, 404, 'not_found', 'no such file');
  fs.stat(resolved, (err, st) => {
    if (err || !st.isFile()) return fail(res, 404, 'not_found', 'no such file');
    res.writeHead(200, {
      'content-type': types[path.extname(resolved)] ?? 'application/octet-stream',
      'content-length': st.size,
      'cache-control': 'no-cache',
    });
    fs.createReadStream(resolved).pipe(res);
  });
}

async function upload(req, res) {
  if (!String(req.headers['content-type']).startsWith('multipart/form-data')) {
    return fail(res, 415, 'not_multipart', 'the upload must be multipart/form-data');
  }
  let form;
  try {
    form = await new Request('http://local/', {
      method: 'POST', headers: req.headers, body: Readable.toWeb(req), duplex: 'half',
    }).formData();
  } catch {
    return fail(res, 400, 'bad_multipart', 'the multipart body could not be read');
  }
  const file = form.get('file');
  if (!file || typeof file === 'string') return fail(res, 400, 'missing_file', 'the form has no file part');
  const seg = Number(form.get('segment_seconds') ?? 4);
  if (!(seg >= 1 && seg <= 30)) return fail(res, 400, 'bad_segment_seconds', 'segment_seconds must be a number from 1 to 30');
  const format = form.get('format') ?? 'fmp4';
  if (!['fmp4', 'ts'].includes(format)) return fail(res, 400, 'bad_format', 'format must be fmp4 or ts');
  const heights = form.get('heights');
  if (heights != null && !/^\d+(,\d+)*$/.test(heights)) return fail(res, 400, 'bad_heights', 'heights must be a comma list like 720,360');

  const id = randomBytes(6).toString('hex');
  const tmp = path.join(media, `.${id}.upload`);
  fs.writeFileSync(tmp, Buffer.from(await file.arrayBuffer()));
  const title = path.parse(file.name || 'video').name;
  const video = {
    id, title, status: 'queued', progress: 0, created_at_ms: Date.now(), duration: 0, source: null,
    segment_seconds: seg, format, renditions: [], skipped_heights: [], links: links(id),
  };
  videos.set(id, video);
  json(res, 202, video);

  const argv = ['transcode', tmp, '--out', path.join(media, id), '--segment-seconds', String(seg), '--format', format];
  if (heights) argv.push('--heights', heights);
  const child = spawn(reel, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  let last = '';
  const poll = setInterval(() => {
    let text;
    try { text = fs.readFileSync(path.join(media, id, 'manifest.json'), 'utf8'); } catch { return; }
    if (text === last) return;
    last = text;
    const m = JSON.parse(text);
    if (!videos.has(id)) return;
    videos.set(id, { ...videos.get(id), ...m, id, title, status: 'processing', created_at_ms: video.created_at_ms, links: links(id) });
    emit(id, 'progress');
  }, 250);
  child.on('exit', (code) => {
    clearInterval(poll);
    fs.rmSync(tmp, { force: true });
    if (!videos.has(id)) return;
    if (code === 0) {
      const m = JSON.parse(fs.readFileSync(path.join(media, id, 'manifest.json'), 'utf8'));
      const v = { ...m, id, title, status: 'ready', progress: 1, created_at_ms: video.created_at_ms, links: links(id) };
      fs.writeFileSync(path.join(media, id, 'manifest.json'), JSON.stringify(v));
      videos.set(id, v);
      emit(id, 'ready');
    } else {
      const reason = stderr.trim().split('\n').pop()?.replace(/^reel: /, '') || 'transcode failed';
      videos.set(id, { ...videos.get(id), status: 'failed', error: reason.replace(/\/[^\s:]+/g, 'the upload') });
      emit(id, 'failed');
    }
  });
}

function events(req, res, id) {
  if (!videos.has(id)) return fail(res, 404, 'not_found', `no such video ${id}`);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (event, v) => {
    res.write(`event: ${event}\ndata: ${JSON.stringify(v)}\n\n`);
    if (event !== 'progress') {
      listeners.get(id)?.delete(send);
      res.end();
    }
  };
  const v = videos.get(id);
  if (v.status === 'ready' || v.status === 'failed') return send(v.status, v);
  send('progress', v);
  if (!listeners.has(id)) listeners.set(id, new Set());
  listeners.get(id).add(send);
  req.on('close', () => listeners.get(id)?.delete(send));
}

createServer((req, res) => {
  const url = new URL(req.url, 'http://local');
  const p = decodeURIComponent(url.pathname);
  let m;
  if (args['api-key'] && ['POST', 'PUT', 'DELETE'].includes(req.method)) {
    const given = req.headers['x-api-key'] ?? String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (given !== args['api-key']) return fail(res, 401, 'unauthorized', 'this server wants an API key (Authorization: Bearer <key>)');
  }
  if (p === '/') return sendFile(res, path.join(web, 'index.html'), web);
  if ((m = p.match(/^\/assets\/(.+)$/))) return sendFile(res, path.join(web, 'assets', m[1]), path.join(web, 'assets'));
  if ((m = p.match(/^\/vendor\/([\w.-]+)$/))) {
    const dist = path.join(web, 'node_modules/hls.js/dist');
    return sendFile(res, path.join(dist, m[1]), dist);
  }
  if ((m = p.match(/^\/media\/(.+)$/))) return sendFile(res, path.join(media, m[1]), media);
  if (p === '/api/videos' && req.method === 'GET') {
    return json(res, 200, { videos: [...videos.values()].sort((a, b) => b.created_at_ms - a.created_at_ms) });
  }
  if (p === '/api/videos' && req.method === 'POST') return void upload(req, res);
  if ((m = p.match(/^\/api\/videos\/(\w+)\/events$/))) return events(req, res, m[1]);
  if ((m = p.match(/^\/api\/videos\/(\w+)$/))) {
    if (!videos.has(m[1])) return fail(res, 404, 'not_found', `no such video ${m[1]}`);
    if (req.method === 'DELETE') {
      videos.delete(m[1]);
      fs.rmSync(path.join(media, m[1]), { recursive: true, force: true });
      res.writeHead(204).end();
      return;
    }
    return json(res, 200, videos.get(m[1]));
  }
  fail(res, 404, 'not_found', 'no such page');
}).listen(port, '127.0.0.1', () => console.log(`dev server on http://127.0.0.1:${port}/ (media ${media})`));
