import { useState } from 'react';
import { useChannel } from '@realtime-gateway/client/react';
import { parseTour, tourChannel, type Tour } from './tours.js';

/** One tour, on its own channel: the last message (history: 1) is its current state, then live updates. */
export function TourPanel({ id }: { id: string }) {
  const [tour, setTour] = useState<Tour | undefined>(undefined);
  const { error } = useChannel(tourChannel(id), (m) => {
    const next = parseTour(m);
    if (next) setTour(next);
  }, { history: 1 });

  const soldOut = tour?.seats === 0;
  return (
    <section className={`panel tour${soldOut ? ' sold-out' : ''}`} data-tour={id} data-seats={tour?.seats}>
      <h2>{tour?.name ?? id}</h2>
      {error ? (
        <p className="note error">Cannot follow this tour: {error.message}</p>
      ) : tour ? (
        <>
          <p className="seats"><span className="n">{tour.seats}</span> {soldOut ? 'sold out' : `of ${tour.capacity} seats left`}</p>
          <meter min={0} max={tour.capacity} value={tour.seats} aria-label={`${tour.name}: ${tour.seats} of ${tour.capacity} seats left`} />
          <p className="note">Updated {new Date(tour.at).toLocaleTimeString()}</p>
        </>
      ) : (
        <p className="note">No state yet: start <code>npm run demo:react</code>.</p>
      )}
    </section>
  );
}
