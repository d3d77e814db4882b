// What the page knows about the server's videos, kept fresh, with one place to listen.
//
// Unfinished videos are followed through their SSE streams. A browser opens at most six
// HTTP/1.1 connections per server and an SSE stream holds one for as long as it lasts, so
// at most MAX_STREAMS videos are followed at once (the upload in flight and the selected
// video first); any other unfinished video is refreshed by polling the list.

import { listVideos, followVideo } from './api.js';

const MAX_STREAMS = 2;
const POLL_BUSY_MS = 3000;
const POLL_IDLE_MS = 30000;

const isFinal = (v) => v.status === 'ready' || v.status === 'failed';

export class Store {
  constructor() {
    this.videos = new Map();
    this.streams = new Map(); // id -> stop()
    this.listeners = new Set();
    this.priority = new Set(); // ids that deserve a stream first
    this.lost = new Set(); // ids whose stream the browser gave up on: polled instead
    this.timer = null;
    this.loaded = false;
  }

  /// fn(video | null, removedId?) after each change; null for a whole-list refresh.
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(video, removedId) {
    for (const fn of this.listeners) fn(video, removedId);
  }

  /// Newest first, as the server lists them.
  list() {
    return [...this.videos.values()].sort((a, b) => b.created_at_ms - a.created_at_ms);
  }

  get(id) {
    return this.videos.get(id);
  }

  async refresh() {
    clearTimeout(this.timer);
    try {
      const fresh = await listVideos();
      const seen = new Set();
      for (const v of fresh) {
        seen.add(v.id);
        // A stream's news is at least as fresh as the list's.
        if (!this.streams.has(v.id)) this.videos.set(v.id, v);
      }
      for (const id of [...this.videos.keys()]) if (!seen.has(id)) this.forget(id, false);
      this.loaded = true;
      this.error = null;
    } catch (err) {
      this.error = err;
    }
    this.emit(null);
    this.follow();
    this.schedule();
    return this.error ? Promise.reject(this.error) : undefined;
  }

  schedule() {
    clearTimeout(this.timer);
    const busy = this.list().some((v) => !isFinal(v) && !this.streams.has(v.id));
    const delay = busy ? POLL_BUSY_MS : POLL_IDLE_MS;
    this.timer = setTimeout(() => {
      if (document.hidden) return this.schedule();
      this.refresh().catch(() => {});
    }, delay);
  }

  upsert(video) {
    this.videos.set(video.id, video);
    this.emit(video);
    if (isFinal(video)) this.stopStream(video.id);
    this.follow();
  }

  /// Gives this video a stream before others (the upload in flight, the selected video).
  prefer(id) {
    this.priority.add(id);
    this.follow();
  }

  forget(id, notify = true) {
    this.stopStream(id);
    this.priority.delete(id);
    this.videos.delete(id);
    if (notify) this.emit(null, id);
  }

  stopStream(id) {
    this.streams.get(id)?.();
    this.streams.delete(id);
  }

  /// Opens streams for unfinished videos, the preferred ones first, up to MAX_STREAMS.
  follow() {
    const waiting = this.list().filter((v) => !isFinal(v) && !this.streams.has(v.id) && !this.lost.has(v.id));
    waiting.sort((a, b) => Number(this.priority.has(b.id)) - Number(this.priority.has(a.id)));
    for (const v of waiting) {
      if (this.streams.size >= MAX_STREAMS) break;
      const stop = followVideo(v, {
        onProgress: (fresh) => {
          this.videos.set(fresh.id, fresh);
          this.emit(fresh);
        },
        onDone: (fresh) => {
          this.streams.delete(fresh.id);
          this.upsert(fresh);
          this.schedule();
        },
        onLost: () => {
          this.streams.delete(v.id);
          this.lost.add(v.id);
          this.schedule();
        },
      });
      this.streams.set(v.id, stop);
    }
  }
}
