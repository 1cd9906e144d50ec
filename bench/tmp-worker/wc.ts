// @ts-nocheck
/* eslint-disable */
import { openBenchPage } from '../lib/bench-page.js';
const page0 = await openBenchPage({ '/index.html': '<!doctype html><script>globalThis.ready=1</script>' }, 'ready');
const r = await page0.page.evaluate(async () => {
  const out = [];
  const key = await crypto.subtle.importKey('raw', new Uint8Array(32), 'AES-GCM', false, ['encrypt', 'decrypt']);
  const total = 8 * 1024 * 1024;
  for (const size of [64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024]) {
    const n = total / size;
    const plain = new Uint8Array(size);
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, key, plain));
    for (let rep = 0; rep < 3; rep++) {
      let sync = 0; const t0 = performance.now(); const ps = [];
      for (let i = 0; i < n; i++) { const a = performance.now(); ps.push(crypto.subtle.digest('SHA-256', plain)); sync += performance.now() - a; }
      await Promise.all(ps); const tD = performance.now() - t0;
      let sync2 = 0; const t1 = performance.now(); const qs = [];
      for (let i = 0; i < n; i++) { const a = performance.now(); qs.push(crypto.subtle.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, key, sealed)); sync2 += performance.now() - a; }
      await Promise.all(qs); const tA = performance.now() - t1;
      if (rep === 2) out.push(`chunk ${size / 1024} KiB x${n}: digest wall ${tD.toFixed(1)} ms (sync ${sync.toFixed(1)}), decrypt wall ${tA.toFixed(1)} ms (sync ${sync2.toFixed(1)})`);
    }
  }
  return out;
});
console.log(r.join('\n'));
await page0.close();
