/**
 * The tours dashboard in React (/react.html): the page's entry. One RealtimeClient for the page,
 * created and connected here (outside React), handed to the components by <RealtimeProvider>.
 * Signed in through the main page's stored session (session.ts): sign in at / first.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App, SignedOut } from './App.js';
import { forgetSession, loadSession, sessionClient } from './session.js';

const root = createRoot(document.getElementById('root')!);
const session = loadSession();

if (!session) {
  root.render(<StrictMode><SignedOut message="You are not signed in." /></StrictMode>);
} else {
  const client = sessionClient(session);
  const over = () => {
    forgetSession();
    client.close();
  };
  // Rejects only when the client closes first (signed out, expired): App shows that.
  client.connect().catch(() => {});
  root.render(<StrictMode><App client={client} me={session.user} onSessionOver={over} /></StrictMode>);
}
