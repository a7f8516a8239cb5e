/**
 * TLS and HTTP/2: a gateway configured with a certificate serves JSON-RPC over HTTPS and over
 * HTTP/2, to clients that verify the certificate (the test's own CA; verification is never
 * switched off), and refuses plain HTTP.
 */

import { readFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, startDevNode } from './devNode.js';

const TLS_DIR = fileURLToPath(new URL('./fixtures/tls/', import.meta.url));
const ca = readFileSync(`${TLS_DIR}cert.pem`);
const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] });

let dev: DevNode;

beforeAll(async () => {
  dev = await startDevNode({ gateway: { tls: { cert: `${TLS_DIR}cert.pem`, key: `${TLS_DIR}key.pem` }, http2: true } });
});

afterAll(async () => {
  await dev?.close();
});

describe('TLS', () => {
  it('default: the gateway URL is https and HTTP/2 clients get JSON-RPC answers', async () => {
    expect(dev.baseUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const session = connect(dev.baseUrl, { ca });
    try {
      const answer = await new Promise<{ status: number; text: string; version: string }>((done, fail) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': `/v1/demo/${dev.apiKey}`,
          'content-type': 'application/json',
        });
        let status = 0;
        let text = '';
        stream.on('response', (headers) => {
          status = Number(headers[':status']);
        });
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          text += chunk;
        });
        stream.on('end', () => done({ status, text, version: session.alpnProtocol ?? '' }));
        stream.on('error', fail);
        stream.end(body);
      });
      expect(answer.version).toBe('h2');
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.text)).toEqual({ jsonrpc: '2.0', id: 1, result: '0x7a69' });
    } finally {
      session.close();
    }
  });

  it('behavior: HTTP/1.1 clients over TLS are served too', async () => {
    const url = new URL(`${dev.baseUrl}/v1/demo/${dev.apiKey}`);
    const answer = await new Promise<{ status: number; text: string }>((done, fail) => {
      const req = request(url, { method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => done({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', fail);
      req.end(body);
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text).result).toBe('0x7a69');
  });

  it('error: a client that does not trust the certificate is refused by its own TLS check', async () => {
    const url = new URL(`${dev.baseUrl}/v1/demo/${dev.apiKey}`);
    const err = await new Promise<Error>((done) => {
      const req = request(url, { method: 'POST' }, () => done(new Error('an untrusted certificate was accepted')));
      req.on('error', done);
      req.end(body);
    });
    expect(err.message).toMatch(/self[- ]signed/i);
  });

  it('error: plain HTTP to the TLS port gets no JSON-RPC answer', async () => {
    const plain = dev.baseUrl.replace('https:', 'http:');
    const res = await fetch(`${plain}/v1/demo/${dev.apiKey}`, { method: 'POST', body }).then(
      (r) => r.text(),
      (e: Error) => e.message,
    );
    expect(res).not.toContain('0x7a69');
  });
});
