/** Webhooks: durable, signed, retried deliveries of ledger events to an app's notifyUrl. (Being built.) */
import type { GatewayContext } from './context.js';
import type { AnyRoute } from './rest/route.js';

export class Webhooks {
  readonly routes: AnyRoute[] = [];
  static async open(_ctx: GatewayContext): Promise<Webhooks> {
    return new Webhooks();
  }
  async close(): Promise<void> {}
}
