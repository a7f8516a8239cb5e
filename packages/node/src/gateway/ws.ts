/** JSON-RPC over WebSocket at /v1/{appId}/{apiKey}, with eth_subscribe. (Being built.) */
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from './context.js';

/** Registers the WebSocket endpoint; returns a function that closes every open socket. */
export async function registerWebSocket(_app: FastifyInstance, _ctx: GatewayContext): Promise<() => Promise<void>> {
  return async () => {};
}
