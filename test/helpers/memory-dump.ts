// Chromium's own memory accounting, read through CDP: a memory-infra dump (Tracing domain) of every
// process, and from it the bytes a renderer holds in Blink's ArrayBuffer partition. Unlike V8's
// counters (Runtime.getHeapUsage), this counts backing stores that JS has detached but Blink still
// owns, which RSS hides among freed pages the allocator keeps.
import type { Browser, CDPSession } from 'playwright-core';

const ARRAY_BUFFERS = 'partition_alloc/allocated_objects/partitions/array_buffer';

interface DumpEvent {
  ph: string;
  pid: number;
  args?: { dumps?: { allocators?: Record<string, { attrs?: { size?: { value?: string } } }> } };
}

/** Bytes allocated in each process's ArrayBuffer partition (by pid; a process with none may be absent), from one memory-infra dump. */
export async function arrayBufferPartitionBytes(browser: Browser): Promise<Map<number, number>> {
  const cdp: CDPSession = await browser.newBrowserCDPSession();
  try {
    const events: DumpEvent[] = [];
    cdp.on('Tracing.dataCollected', (e) => void events.push(...(e.value as unknown as DumpEvent[])));
    await cdp.send('Tracing.start', {
      transferMode: 'ReportEvents',
      traceConfig: {
        includedCategories: ['disabled-by-default-memory-infra'],
        excludedCategories: ['*'],
        // No periodic dumps, only the one requested (playwright types this field as a string map).
        memoryDumpConfig: { triggers: [] } as unknown as Record<string, string>,
      },
    });
    const { success } = await cdp.send('Tracing.requestMemoryDump', { deterministic: false, levelOfDetail: 'light' });
    const complete = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
    await cdp.send('Tracing.end');
    await complete;
    if (!success) throw new Error('Chromium did not take the memory dump');
    const bytes = new Map<number, number>();
    for (const e of events) {
      const size = e.ph === 'v' ? e.args?.dumps?.allocators?.[ARRAY_BUFFERS]?.attrs?.size?.value : undefined;
      if (size !== undefined) bytes.set(e.pid, parseInt(size, 16));
    }
    return bytes;
  } finally {
    await cdp.detach();
  }
}
