/** Key trust mode: custodial secp256k1 keys encrypted with the node master key. (Being built.) */
import type { GatewayContext } from './context.js';
import type { AnyRoute } from './rest/route.js';

export class Custody {
  readonly routes: AnyRoute[] = [];
  static async open(_ctx: GatewayContext): Promise<Custody> {
    return new Custody();
  }
  async close(): Promise<void> {}
}
