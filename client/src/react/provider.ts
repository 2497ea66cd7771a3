/** The client a subtree uses: one RealtimeClient, given by the app (which creates, connects and closes it). */
import { createContext, createElement, useContext, type ReactNode } from 'react';
import type { RealtimeClient } from '../client.js';

const ClientContext = createContext<RealtimeClient | undefined>(undefined);

export function RealtimeProvider(props: { client: RealtimeClient; children?: ReactNode }) {
  return createElement(ClientContext.Provider, { value: props.client }, props.children);
}

/** The provider's client; throws outside a RealtimeProvider (a mistake to see at once). */
export function useRealtimeClient(): RealtimeClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error('useRealtimeClient: wrap the component in <RealtimeProvider client={client}>');
  return client;
}
