/**
 * A userspace delay line between the service and S3 (netem does not exist on this kernel): every chunk
 * is forwarded `oneWayMs` after it arrived, in both directions, so the round trip grows by 2 x oneWayMs.
 * Order is kept per direction; a direction holding more than `maxInFlightBytes` pauses its reader, like a
 * real path with a bounded bandwidth-delay product.
 */
import net from 'node:net';

export interface DelayProxy {
  port: number;
  close(): Promise<void>;
}

export async function startDelayProxy(targetPort: number, oneWayMs: number, maxInFlightBytes = 8 * 1024 * 1024, listenHost = '127.0.0.1'): Promise<DelayProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    delayLine(client, upstream, oneWayMs, maxInFlightBytes);
    delayLine(upstream, client, oneWayMs, maxInFlightBytes);
  });
  await new Promise<void>((resolve) => server.listen(0, listenHost, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

function delayLine(from: net.Socket, to: net.Socket, oneWayMs: number, maxInFlightBytes: number): void {
  let inFlight = 0;
  let ended = false;
  let pending = 0;
  from.on('data', (chunk: Buffer) => {
    inFlight += chunk.length;
    pending++;
    if (inFlight > maxInFlightBytes) from.pause();
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
      inFlight -= chunk.length;
      pending--;
      if (inFlight <= maxInFlightBytes && from.isPaused()) from.resume();
      if (ended && pending === 0) to.end();
    }, oneWayMs);
  });
  from.on('end', () => {
    ended = true;
    if (pending === 0) to.end();
  });
}
