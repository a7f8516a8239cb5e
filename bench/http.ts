/**
 * A lean HTTP/1.1 load client for the read benchmarks: `connections` keep-alive sockets, each with
 * one request in flight (no pipelining), as wrk and autocannon drive a server. `fetch` (undici)
 * spends about 400 µs of CPU per request on this machine, so at a few thousand requests per second
 * the generator, not the gateway, was the limit; this client spends a few µs. It speaks only what
 * the gateway answers: a status line, headers with `content-length`, and a body.
 */
import { connect, type Socket } from 'node:net';

/** What one request's answer was, as the driver reports it. */
export type Answer = { status: number; body: Buffer; latencyMs: number };

/** Sends `body(i)` as POST to `url` over `connections` sockets until `durationMs` has passed. */
export async function driveHttp(o: {
  url: string;
  connections: number;
  durationMs: number;
  body: (i: number) => string;
  onAnswer: (a: Answer) => void;
}): Promise<void> {
  const url = new URL(o.url);
  if (url.protocol !== 'http:') throw new Error(`the lean client speaks plain http only, not ${url.protocol}`);
  const port = Number(url.port || 80);
  const path = `${url.pathname}${url.search}`;
  const end = performance.now() + o.durationMs;
  let sent = 0;
  const one = () =>
    new Promise<void>((done, fail) => {
      const socket: Socket = connect({ host: url.hostname, port, noDelay: true });
      let buffer: Buffer = Buffer.alloc(0);
      let started = 0;
      const send = () => {
        if (performance.now() >= end) {
          socket.end();
          done();
          return;
        }
        const payload = Buffer.from(o.body(sent++));
        started = performance.now();
        socket.write(
          `POST ${path} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\n\r\n`,
        );
        socket.write(payload);
      };
      socket.on('connect', send);
      socket.on('error', fail);
      socket.on('data', (chunk: Buffer) => {
        buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
        for (;;) {
          const head = buffer.indexOf('\r\n\r\n');
          if (head < 0) return;
          const headers = buffer.subarray(0, head).toString('latin1');
          const length = /\r\ncontent-length:\s*(\d+)/i.exec(headers)?.[1];
          if (length === undefined) {
            fail(new Error(`the server answered without content-length: ${headers.split('\r\n')[0]}`));
            socket.destroy();
            return;
          }
          const total = head + 4 + Number(length);
          if (buffer.length < total) return;
          const status = Number(headers.slice(9, 12));
          const body = buffer.subarray(head + 4, total);
          buffer = buffer.subarray(total);
          o.onAnswer({ status, body, latencyMs: performance.now() - started });
          send();
        }
      });
    });
  await Promise.all(Array.from({ length: o.connections }, one));
}
