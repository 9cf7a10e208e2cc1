/**
 * One request as raw bytes on a fresh connection (what fetch and node:http refuse to send: a double
 * semicolon, garbage, a head without its body), and the outcome as a tally word: the final status ("413"),
 * "100 then 413" when the server asked for a body it then refused, or why there was none.
 */
import net from 'node:net';
import { errorOutcome } from './tally.js';

export interface RawTarget {
  port: number;
  localAddress: string;
  deadlineMs: number;
}

export function rawExchange(target: RawTarget, request: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port: target.port, host: '127.0.0.1', localAddress: target.localAddress });
    let received = Buffer.alloc(0);
    let settled = false;
    let socketError: string | null = null;
    const settle = (outcome: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => settle(`no answer in ${target.deadlineMs / 1000} s`), target.deadlineMs);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const statuses = statusLines(received);
      const final = statuses.find((s) => s >= 200);
      if (final !== undefined) settle(statuses.length > 1 ? `${statuses.slice(0, -1).join(' then ')} then ${final}` : String(final));
    });
    socket.on('error', (err) => { socketError = errorOutcome(err); });
    socket.on('close', () => {
      const statuses = statusLines(received);
      const informational = statuses.length > 0 ? `${statuses.join(' then ')} then ` : '';
      settle(`${informational}${socketError ?? 'closed without answer'}`);
    });
    socket.once('connect', () => socket.write(request, () => undefined));
  });
}

/** The status of each complete response head in `bytes`, in order (1xx heads included). */
function statusLines(bytes: Buffer): number[] {
  const text = bytes.toString('latin1');
  const statuses: number[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(text.slice(at, end));
    if (!match) break;
    const status = Number(match[1]);
    statuses.push(status);
    if (status >= 200) break; // the body follows; its length does not matter here
    at = end + 4;
  }
  return statuses;
}
