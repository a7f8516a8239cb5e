import { describe, expect, it } from 'vitest';
import { Cluster } from './cluster.js';

describe('consensus core', () => {
  it.each([1, 4, 7])('default: %i replicas decide the same value at height 1 without timeouts', (n) => {
    const c = new Cluster(n);
    c.wakeAll();
    c.run();
    const values = c.decisions.map((d) => d.get(1));
    expect(
      values.every((v) => v !== undefined && v === values[0]),
      JSON.stringify(values),
    ).toBe(true);
  });
});
