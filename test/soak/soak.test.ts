// The CI slice of the soak (the full run is `npm run soak`, docs/TESTING.md): the same generator and
// readers on a few hundred seeded cases, and a few hundred hostile HTTP requests with a valid
// client releasing throughout. Fixed seed, so a failure here replays with `npm run soak -- --case N`.

import { describe, expect, it } from 'vitest';
import { formatFileReport, runFileSoak } from './files.js';
import { formatHttpReport, runHttpSoak } from './http.js';

const SEED = 'ci';

describe('soak slice', () => {
  it('300 mutated sealed models through the loader, verify and open (6 through the built CLI): each opens to the sealed bytes or fails with a documented code', async () => {
    const report = await runFileSoak({ seed: SEED, cases: 300, processCases: 6, concurrency: 4, timeoutMs: 10_000 });
    expect(report.failures, formatFileReport(report)).toEqual([]);
    expect(report.cases).toBe(300);
    for (const reader of ['loader', 'verify', 'open'] as const) {
      expect(Object.values(report.counts[reader]!).reduce((a, b) => a + b, 0)).toBe(300);
      // Both kinds of outcome happen: the mix reaches valid models and refused ones.
      expect(report.counts[reader]!['ok'] ?? 0).toBeGreaterThan(10);
      expect(report.counts[reader]!['manifest_invalid'] ?? 0).toBeGreaterThan(10);
    }
    expect(Object.values(report.counts['cli-verify']!).reduce((a, b) => a + b, 0)).toBe(6);
  });

  it('300 hostile requests against a listening key server: no 5xx, every valid release succeeds, alive at the end', async () => {
    const report = await runHttpSoak({ seed: SEED, requests: 300 });
    expect(report.failures, formatHttpReport(report)).toEqual([]);
    expect(report.serverErrors).toBe(0);
    expect(report.valid.failures).toBe(0);
    expect(report.valid.released).toBeGreaterThan(0);
    expect(report.aliveAtEnd).toBe(true);
    expect(report.answers['rate-limited']?.['429']).toBeGreaterThan(0);
  });
});
