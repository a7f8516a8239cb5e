/** REST routes over a ledger's chain: blocks, transactions, receipts, events, accounts, submit-and-wait. (Being built.) */
import type { GatewayContext } from '../context.js';
import type { AnyRoute } from './route.js';

export function chainRoutes(_ctx: GatewayContext): AnyRoute[] {
  return [];
}
