/**
 * The WAN model: 100 city nodes in six regions, and one-way latencies between regions.
 *
 * The matrix is half of typical round-trip times between well-connected data centres in each
 * region's main hubs (North America: Virginia/California; South America: São Paulo; Europe:
 * Frankfurt/London; Africa: Johannesburg/Lagos; Asia: Singapore/Tokyo; Oceania: Sydney), as
 * published by cloud providers' inter-region latency dashboards and public ping matrices,
 * rounded. Within a region, latency depends on the two cities: each city gets an offset from its
 * region's hub, and a pair pays the intra-region base plus both offsets.
 */
import type { Rng } from './rng.js';

/** The six regions. */
export const REGIONS = ['north-america', 'south-america', 'europe', 'africa', 'asia', 'oceania'] as const;
/** A region. */
export type Region = (typeof REGIONS)[number];

/** One-way latency in ms between region hubs (symmetric; the diagonal is the intra-region base). */
export const REGION_LATENCY_MS: Readonly<Record<Region, Readonly<Record<Region, number>>>> = {
  'north-america': { 'north-america': 10, 'south-america': 60, europe: 40, africa: 110, asia: 85, oceania: 75 },
  'south-america': { 'north-america': 60, 'south-america': 12, europe: 95, africa: 170, asia: 160, oceania: 155 },
  europe: { 'north-america': 40, 'south-america': 95, europe: 8, africa: 80, asia: 85, oceania: 135 },
  africa: { 'north-america': 110, 'south-america': 170, europe: 80, africa: 20, asia: 110, oceania: 165 },
  asia: { 'north-america': 85, 'south-america': 160, europe: 85, africa: 110, asia: 15, oceania: 50 },
  oceania: { 'north-america': 75, 'south-america': 155, europe: 135, africa: 165, asia: 50, oceania: 8 },
};

/** How many of the 100 city nodes each region hosts (roughly where data centres are). */
export const CITY_NODES_PER_REGION: Readonly<Record<Region, number>> = {
  'north-america': 26,
  'south-america': 8,
  europe: 28,
  africa: 6,
  asia: 24,
  oceania: 8,
};

/** A simulated city node: its region and its distance from the region's hub. */
export type CityNode = { id: number; region: Region; hubOffsetMs: number };

/** The 100 city nodes; their offsets come from `rng`. */
export function createCityNodes(rng: Rng): CityNode[] {
  const nodes: CityNode[] = [];
  for (const region of REGIONS) {
    for (let i = 0; i < CITY_NODES_PER_REGION[region]; i++) {
      nodes.push({ id: nodes.length, region, hubOffsetMs: rng.int(0, 12) });
    }
  }
  return nodes;
}

/** One-way base latency between two city nodes, in ms. */
export function cityLatencyMs(a: CityNode, b: CityNode): number {
  if (a.id === b.id) return 0;
  return REGION_LATENCY_MS[a.region][b.region] + a.hubOffsetMs + b.hubOffsetMs;
}

/** Draws `n` distinct city nodes to be a ledger's validators. */
export function drawValidators(rng: Rng, cities: readonly CityNode[], n: number): CityNode[] {
  if (n > cities.length) throw new RangeError(`cannot draw ${n} validators from ${cities.length} city nodes`);
  return rng.shuffle(cities).slice(0, n);
}

/** The p-th percentile (0..100) of `values` by nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Percentiles of a latency sample, in ms. */
export type LatencySummary = { count: number; p50: number; p90: number; p99: number };

/** The p50, p90 and p99 of `values`. */
export function summarizeLatencies(values: readonly number[]): LatencySummary {
  return { count: values.length, p50: percentile(values, 50), p90: percentile(values, 90), p99: percentile(values, 99) };
}
