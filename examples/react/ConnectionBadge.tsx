import { useConnectionState } from '@realtime-gateway/client/react';

const LABELS = { connecting: 'Connecting…', connected: 'Live', disconnected: 'Reconnecting…', closed: 'Offline' } as const;

/** The connection's state; `data-state` for styles (and tests). */
export function ConnectionBadge() {
  const state = useConnectionState();
  return (
    <p className="badge" data-state={state} role="status" aria-live="polite">
      <span className="led" aria-hidden="true" />
      {LABELS[state]}
    </p>
  );
}
