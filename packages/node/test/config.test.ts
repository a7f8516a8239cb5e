/** Genesis validation errors that name the field and say what it should be. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGenesis, ConfigError, freePorts, GenesisSchema, readJsonFile } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'polis-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function read(genesis: unknown): unknown {
  const path = join(dir, 'genesis.json');
  writeFileSync(path, JSON.stringify(genesis));
  return readJsonFile(path, GenesisSchema, 'genesis');
}

const validator = { name: 'n0', publicKey: `0x${'11'.repeat(32)}` };
const ledger = { id: 'demo', chainId: 31337, validators: [validator] };

describe('genesis', () => {
  it('error: a timer longer than Node can run is refused, naming the field', () => {
    expect(() => read({ genesisTime: 0, ledgers: [ledger], consensus: { heartbeatMs: 3_000_000_000 } })).toThrow(ConfigError);
    expect(() => read({ genesisTime: 0, ledgers: [ledger], consensus: { heartbeatMs: 3_000_000_000 } })).toThrow(
      /consensus\.heartbeatMs/,
    );
    expect(read({ genesisTime: 0, ledgers: [ledger], consensus: { heartbeatMs: 2_147_483_647 } })).toBeDefined();
  });

  it('default: a new network slows idle heartbeats to 60 s; a genesis that sets its heartbeat alone keeps it steady', () => {
    const consensusOf = (genesis: unknown) => (GenesisSchema.parse(genesis) as { consensus: Record<string, unknown> }).consensus;
    expect(consensusOf({ genesisTime: 0, ledgers: [ledger] })).toMatchObject({ heartbeatMs: 10_000, idleHeartbeatMaxMs: 60_000 });
    expect(
      consensusOf({ genesisTime: 0, ledgers: [ledger], consensus: { heartbeatMs: 200 } }).idleHeartbeatMaxMs,
    ).toBeUndefined();
    const v = { name: 'n0', publicKey: validator.publicKey, peerId: 'p', address: '/ip4/127.0.0.1/tcp/1' } as never;
    const built = (consensus?: object) =>
      buildGenesis({ validators: [v], ledgers: [{ id: 'demo', chainId: 31337 }], ...(consensus ? { consensus } : {}) }).consensus;
    expect(built().idleHeartbeatMaxMs).toBe(60_000);
    expect(built({ gossipMs: 250 }).idleHeartbeatMaxMs).toBe(60_000);
    expect(built({ heartbeatMs: 200 }).idleHeartbeatMaxMs).toBeUndefined();
    expect(built({ heartbeatMs: 200, idleHeartbeatMaxMs: 1_000 }).idleHeartbeatMaxMs).toBe(1_000);
    expect(() => read({ genesisTime: 0, ledgers: [ledger], consensus: { idleHeartbeatMaxMs: 0 } })).toThrow(
      /consensus\.idleHeartbeatMaxMs/,
    );
  });

  it('error: a genesis with neither a ledger nor a system ledger is refused', () => {
    expect(() => read({ genesisTime: 0, ledgers: [] })).toThrow(/at least one ledger, or a system ledger/);
    const system = {
      chainId: 9,
      admins: [`0x${'22'.repeat(20)}`],
      threshold: 1,
      validators: [validator.publicKey],
      operator: `0x${'22'.repeat(20)}`,
    };
    expect(read({ genesisTime: 0, nodes: [validator], system })).toBeDefined();
  });
});

describe('freePorts', () => {
  it('default: distinct ports below the kernel ephemeral range, each one free to listen on', async () => {
    const ports = await freePorts(8);
    expect(new Set(ports).size).toBe(8);
    const range = existsSync('/proc/sys/net/ipv4/ip_local_port_range')
      ? Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
      : 32_768;
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(range);
      const server = createServer();
      await new Promise<void>((done, fail) => {
        server.once('error', fail);
        server.listen(port, '127.0.0.1', () => done());
      });
      await new Promise((done) => server.close(done));
    }
  });
});
