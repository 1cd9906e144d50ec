// Option parsers: sizes in the units users type, and the help text of defaults.
import { describe, expect, it } from 'vitest';
import { parseShardSize, parseSize } from '../../cli/options.js';
import { run } from './helpers.js';

describe('size options', () => {
  it('reads KB/MB/GB as binary units, as TF.js shard sizes are counted', () => {
    expect(parseSize('4MB')).toBe(4 * 1024 * 1024);
    expect(parseSize('4mb')).toBe(parseSize('4MiB'));
    expect(parseSize('512KB')).toBe(512 * 1024);
    expect(parseSize('1GB')).toBe(1024 ** 3);
    expect(parseShardSize('4MB')).toBe(4194304);
  });

  it('refuses units it does not know, naming the forms it takes', () => {
    expect(() => parseSize('4TB')).toThrow(/4MiB/);
    expect(() => parseSize('4 M B')).toThrow(/byte count/);
  });
});

describe('help text', () => {
  it('token --ttl shows its default as a duration, not milliseconds', () => {
    const r = run(['token', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--ttl <duration>.*\(default: 5m\)/s);
    expect(r.stdout).not.toContain('300000');
  });
});
