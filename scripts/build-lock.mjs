// An exclusive lock between processes on one machine: a file created with O_EXCL that holds
// its owner's pid. scripts/build.mjs holds it while it writes dist/, so two `npm start` (or a
// start and a test run) never write dist/ at the same time.
//
// Contract:
// - withLock(path, fn) runs fn while no other process holding the same path runs; waiters poll
//   every 100 ms and say once who they wait for.
// - The owner touches the file every few seconds. A lock is stale, and is taken over, when
//   its pid is no longer alive on this host, or when it has not been touched for `staleMs`
//   (pid reused after a reboot, an owner on another host, a hung owner). Take-overs are
//   serialized by a second file (`<path>.break`), so two waiters cannot both remove a dead
//   owner's lock and then each other's.
// - The lock is released when fn settles, and on SIGINT/SIGTERM/SIGHUP while held: then
//   `onInterrupt` runs first (stop what writes under the lock), and the process exits
//   128+signal. A SIGKILLed owner leaves a lock that the next waiter finds stale.
import { readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';

const POLL_MS = 100;
const TOUCH_MS = 5_000;
const BREAK_STALE_MS = 5_000;
const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/**
 * @template T
 * @param {string} path
 * @param {() => Promise<T>} fn
 * @param {{ staleMs?: number, onWait?: (holder: string) => void, onInterrupt?: () => void }} [opts]
 * @returns {Promise<T>}
 */
export async function withLock(path, fn, { staleMs = 60_000, onWait = () => {}, onInterrupt = () => {} } = {}) {
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() });
  let told = false;
  while (!tryCreate(path, mine)) {
    const held = readHolder(path);
    if (held === undefined) continue; // released meanwhile
    if (isStale(held, path, staleMs) && breakLock(path, held.raw)) continue;
    if (!told) {
      onWait(held.pid ? `pid ${held.pid}` : 'another process');
      told = true;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const release = () => {
    if (readHolder(path)?.raw === mine) removeQuietly(path);
  };
  const onSignal = (signal) => {
    onInterrupt();
    release();
    process.exit(128 + SIGNALS[signal]);
  };
  for (const s of Object.keys(SIGNALS)) process.on(s, onSignal);
  process.on('exit', release);
  const touch = setInterval(() => {
    const now = new Date();
    try {
      if (readHolder(path)?.raw === mine) utimesSync(path, now, now);
    } catch (err) {
      if (err.code !== 'ENOENT') throw err; // gone between the read and the touch
    }
  }, Math.min(TOUCH_MS, staleMs / 4));
  touch.unref();
  try {
    return await fn();
  } finally {
    clearInterval(touch);
    release();
    for (const s of Object.keys(SIGNALS)) process.off(s, onSignal);
    process.off('exit', release);
  }
}

function tryCreate(path, content) {
  try {
    writeFileSync(path, content, { flag: 'wx' });
    return true;
  } catch (err) {
    if (err.code === 'EEXIST') return false;
    throw err;
  }
}

/** The lock's owner, `{}` when the file is still being written, undefined when it is gone. */
function readHolder(path) {
  let raw;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { pid, host } = JSON.parse(raw);
    return { raw, pid, host };
  } catch {
    return { raw };
  }
}

function isStale(held, path, staleMs) {
  const age = ageMs(path);
  if (age === undefined) return false; // gone: the next try creates it
  if (age > staleMs) return true;
  if (!held.pid) return age > BREAK_STALE_MS; // created, never written: its writer died
  return held.host === hostname() && !alive(held.pid);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM'; // exists, owned by someone else
  }
}

/** Remove the lock if it still holds `raw`, one breaker at a time; false if another is at it. */
function breakLock(path, raw) {
  const guard = `${path}.break`;
  if (!tryCreate(guard, String(process.pid))) {
    const age = ageMs(guard);
    if (age !== undefined && age > BREAK_STALE_MS) removeQuietly(guard); // a breaker died inside
    return false;
  }
  try {
    if (readHolder(path)?.raw === raw) removeQuietly(path);
  } finally {
    removeQuietly(guard);
  }
  return true;
}

function ageMs(path) {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  }
}

function removeQuietly(path) {
  try {
    unlinkSync(path);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
}
