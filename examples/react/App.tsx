import { useEffect, useState, type ReactNode } from 'react';
import { RealtimeProvider } from '@realtime-gateway/client/react';
import type { RealtimeClient, UserInfo } from '@realtime-gateway/client';
import { ConnectionBadge } from './ConnectionBadge.js';
import { OnlinePanel } from './OnlinePanel.js';
import { SalesPanel } from './SalesPanel.js';
import { TourPanel } from './TourPanel.js';
import { TOURS } from './tours.js';

function Header({ children }: { children?: ReactNode }) {
  return (
    <header className="topbar">
      <h1>Tours <small>React</small></h1>
      {children}
      <a href="/">Chat and people</a>
    </header>
  );
}

export function SignedOut({ message }: { message: string }) {
  return (
    <>
      <Header />
      <main className="signed-out">
        <p className="note" data-signed-out="">{message} <a href="/">Sign in</a>, then come back to this page.</p>
      </main>
    </>
  );
}

/** The dashboard: every panel is its own component on its own channel, all on one client. */
export function App({ client, me, onSessionOver }: { client: RealtimeClient; me: UserInfo; onSessionOver: () => void }) {
  const [over, setOver] = useState<string | undefined>(undefined);
  useEffect(() => client.on('closed', ({ reason, message }) => {
    if (reason === 'client') return;
    onSessionOver();
    setOver(message);
  }), [client, onSessionOver]);

  if (over !== undefined) return <SignedOut message={over} />;
  return (
    <RealtimeProvider client={client}>
      <Header>
        <ConnectionBadge />
      </Header>
      <main className="dashboard">
        <div className="tours">
          {TOURS.map((id) => <TourPanel key={id} id={id} />)}
        </div>
        <aside className="side">
          <SalesPanel />
          <OnlinePanel me={me} />
        </aside>
      </main>
    </RealtimeProvider>
  );
}
