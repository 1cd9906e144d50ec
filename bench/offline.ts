// Offline-lease benchmark, in Chromium: the same real models loaded plainly (stock tf.io.http),
// sealed online (a key release per load) and sealed from an offline lease (Cache Storage and the
// stored key, no request at all), alternating in the same run; prints ratios against the plain load.
// Never asserts: it reports.
//
// Run: npx tsx bench/offline.ts [--rounds N] [--models a,b]
// The static server and the key server run in this process; Chromium's renderer does the loading.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { createKeyServer, mintDevToken } from '../keyserver/index.js';
import { FileKeyStore } from '../keystore/file-store.js';
import { launchChromium } from '../test/helpers/chromium.js';
import { startStaticServer } from '../test/helpers/static-server.js';
import { copyHumanModel, sealInto } from '../test/loader/fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const rounds = Number(arg('rounds') ?? 5);
  const models = (arg('models') ?? 'faceres,centernet').split(',');
  const root = await mkdtemp(join(tmpdir(), 'modelseal-bench-offline-'));
  const storeDir = join(root, 'store');
  const { store } = await FileKeyStore.open(storeDir, { create: true });
  for (const name of models) {
    const model = await copyHumanModel(name, join(root, 'www/plain', name));
    await sealInto(store, name, model, join(root, 'www/sealed', name));
  }
  const pageSource = `
    import * as tf from '@tensorflow/tfjs';
    import { sealedModel } from '../loader/index.js';
    globalThis.benchLoad = async (url, sealed, options) => {
      await tf.setBackend('cpu');
      const t0 = performance.now();
      const model = await tf.loadGraphModel(sealed ? sealedModel(url, options) : url);
      const ms = performance.now() - t0;
      model.dispose();
      return ms;
    };
  `;
  const built = await build({ stdin: { contents: pageSource, resolveDir: here, loader: 'ts' }, bundle: true, write: false, platform: 'browser', format: 'iife', target: 'es2022', minify: true, logLevel: 'silent' });
  const files = await startStaticServer({ root: join(root, 'www'), files: { '/index.html': '<!doctype html><script src="/bench.js"></script>', '/bench.js': built.outputFiles[0]!.text } });
  const keys = await createKeyServer({
    store: storeDir,
    config: { logLevel: 'silent', auditLog: null, defaults: { origins: null, releasesPerToken: 0, ratePerSubject: 100_000, ratePerAddress: 100_000, offlineLeaseSeconds: 3600 } },
  });
  const keyServer = await keys.listen({ host: '127.0.0.1', port: 0 });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${files.url}/index.html`);
    await page.waitForFunction(() => 'benchLoad' in globalThis);
    const token = await mintDevToken({ store: storeDir, models: ['*'], ttl: '1h' });
    const load = (url: string, sealed: boolean, offline: boolean) => page.evaluate(
      ({ url, sealed, options }) => (globalThis as unknown as { benchLoad(u: string, s: boolean, o: unknown): Promise<number> }).benchLoad(url, sealed, options),
      { url, sealed, options: { token, keyServer, offline } },
    );
    console.log('model              plain ms  online ms  offline ms  online/plain      offline/plain     offline/online');
    for (const name of models) {
      const plainUrl = `${files.url}/plain/${name}/model.json`;
      const sealedUrl = `${files.url}/sealed/${name}/model.json`;
      // The first offline load is online and stores the lease; it also warms everything up.
      await load(plainUrl, false, false);
      await load(sealedUrl, true, false);
      await load(sealedUrl, true, true);
      let offlineRequests = 0;
      const t = { plain: [] as number[], online: [] as number[], offline: [] as number[] };
      const r = { online: [] as number[], offline: [] as number[], vs: [] as number[] };
      for (let i = 0; i < rounds; i++) {
        const p = await load(plainUrl, false, false);
        const on = await load(sealedUrl, true, false);
        const before = files.requests.length;
        const off = await load(sealedUrl, true, true);
        offlineRequests += files.requests.length - before;
        t.plain.push(p);
        t.online.push(on);
        t.offline.push(off);
        r.online.push(on / p);
        r.offline.push(off / p);
        r.vs.push(off / on);
      }
      const fmt = (v: number[]) => `${median(v).toFixed(2)} (${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)})`.padEnd(18);
      console.log(`${name.padEnd(18)} ${median(t.plain).toFixed(0).padStart(8)} ${median(t.online).toFixed(0).padStart(10)} ${median(t.offline).toFixed(0).padStart(11)}  ${fmt(r.online)}${fmt(r.offline)}${fmt(r.vs)}  requests during offline loads: ${offlineRequests}`);
    }
    console.log(`\noffline bench: ${rounds} alternating rounds after one warm-up, Chromium, CPU backend; times are medians, ratios the median of the per-round ratios (min–max)`);
  } finally {
    await browser.close();
    await keys.close();
    await files.close();
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
