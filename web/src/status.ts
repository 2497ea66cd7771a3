/**
 * The connection status line. The state word sits in a polite live region (announced once per
 * change); the reconnect countdown beside it is aria-hidden so it is not read every second.
 * `document.body.dataset.state` mirrors the state for styling and tests.
 */
import type { RealtimeClient } from '../../client/src/index.js';
import { byId } from './dom.js';

/** What the line shows: the client's state, with when the next attempt is due while waiting to reconnect. */
export type ConnectionStatus =
  | { state: 'connecting' | 'connected' | 'offline' }
  | { state: 'reconnecting'; retryAt: number };

const WORDS: Record<ConnectionStatus['state'], string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting',
  offline: 'Offline',
};

export interface StatusView {
  show(status: ConnectionStatus | { state: 'signed-out' }): void;
}

/** Shows `client`'s state on `view`; returns the function that stops. */
export function followClient(client: RealtimeClient, view: StatusView): () => void {
  const offs = [
    client.on('state', (state) => {
      if (state === 'connecting' || state === 'connected') view.show({ state });
      else if (state === 'closed') view.show({ state: 'offline' });
    }),
    client.on('disconnect', ({ delayMs }) => view.show({ state: 'reconnecting', retryAt: Date.now() + delayMs })),
  ];
  return () => offs.forEach((off) => off());
}

export function createStatusView(): StatusView {
  const text = byId('status-text');
  const countdown = byId('status-countdown');
  let ticker: ReturnType<typeof setInterval> | undefined;

  const stopTicker = () => {
    if (ticker !== undefined) clearInterval(ticker);
    ticker = undefined;
    countdown.textContent = '';
  };

  return {
    show(status) {
      stopTicker();
      document.body.dataset.state = status.state;
      if (status.state === 'signed-out') {
        text.textContent = 'Signed out';
        return;
      }
      text.textContent = status.state === 'offline' && !navigator.onLine ? 'Offline (no network)' : WORDS[status.state];
      if (status.state !== 'reconnecting') return;
      const { retryAt } = status;
      const tick = () => {
        const left = Math.ceil((retryAt - Date.now()) / 1000);
        countdown.textContent = left > 0 ? ` in ${left} s` : '…';
      };
      tick();
      ticker = setInterval(tick, 250);
    },
  };
}
