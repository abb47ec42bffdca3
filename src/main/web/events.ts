/** `GET /api/events` as a WebSocket: every engine event is sent as `{"event", "payload"}`. */
import { WebSocketServer, WebSocket } from 'ws';
import type { EventBus } from '../events';

export const EVENTS_PATH = '/api/events';

export function createEventsSocketServer(events: EventBus): WebSocketServer {
  // The page never sends anything on this socket; a tiny limit keeps junk frames cheap.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  wss.on('connection', (ws: WebSocket) => {
    const unsubscribe = events.onAny((event, payload) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ event, payload }));
    });
    ws.on('close', unsubscribe);
    ws.on('error', () => {
      unsubscribe();
      ws.terminate();
    });
  });
  return wss;
}
