import { useEffect, useState } from 'react';
import { useRealtimeClient, usePresence } from '@realtime-gateway/client/react';
import type { UserInfo } from '@realtime-gateway/client';

/** Who is online in the whole cluster, by name once the gateway told us (the `users` command). */
export function OnlinePanel({ me }: { me: UserInfo }) {
  const client = useRealtimeClient();
  const online = usePresence();
  const [names, setNames] = useState<ReadonlyMap<string, string>>(() => new Map([[me.id, me.displayName]]));

  useEffect(() => {
    const unknown = [...online].filter((id) => !names.has(id));
    if (unknown.length === 0) return;
    let current = true;
    client.request({ type: 'users', ids: unknown.slice(0, 100) }).then(({ users }) => {
      if (!current) return;
      setNames((before) => {
        const next = new Map(before);
        for (const id of unknown) next.set(id, users.find((u) => u.id === id)?.displayName ?? id);
        return next;
      });
    }, () => {}); // asked again at the next change
    return () => {
      current = false;
    };
  }, [client, online, names]);

  const people = [...online].sort((a, b) => (names.get(a) ?? a).localeCompare(names.get(b) ?? b));
  return (
    <section className="panel online" aria-labelledby="online-title">
      <h2 id="online-title">Online <span className="count">{online.size}</span></h2>
      <ul className="people">
        {people.map((id) => (
          <li key={id} data-user-id={id} className={id === me.id ? 'me' : undefined}>
            {names.get(id) ?? id}{id === me.id ? ' (you)' : ''}
          </li>
        ))}
      </ul>
    </section>
  );
}
