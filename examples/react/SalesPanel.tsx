import { useState } from 'react';
import { useChannel } from '@realtime-gateway/client/react';
import { parseSale, SALES_CHANNEL, type Sale } from './tours.js';

const SHOWN = 8;

/** The newest sales, newest first, from the sales feed (the last one from history, then live). */
export function SalesPanel() {
  const [sales, setSales] = useState<Array<Sale & { key: string }>>([]);
  const { error } = useChannel(SALES_CHANNEL, (m) => {
    const sale = parseSale(m);
    if (sale) setSales((list) => [{ ...sale, key: m.offset ?? `${m.ts}-${sale.tour}` }, ...list].slice(0, SHOWN));
  }, { history: 1 });

  return (
    <section className="panel sales" aria-labelledby="sales-title">
      <h2 id="sales-title">Latest sales</h2>
      {error && <p className="note error">Cannot follow the sales: {error.message}</p>}
      {sales.length === 0 && !error && <p className="note">No sales yet.</p>}
      <ol className="sales-list">
        {sales.map((s) => (
          <li key={s.key} data-sale={s.tour}>
            <span className="sold">{s.sold} × {s.name}</span> <span className="left">{s.seats} left</span>
            <time dateTime={new Date(s.at).toISOString()}>{new Date(s.at).toLocaleTimeString()}</time>
          </li>
        ))}
      </ol>
    </section>
  );
}
