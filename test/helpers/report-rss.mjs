// Preloaded with `node --import` into a CLI run: writes the process's peak resident set size
// (bytes) to the file named by MODELSEAL_TEST_RSS_FILE when the process exits.
import { writeFileSync } from 'node:fs';
import process from 'node:process';

const target = process.env.MODELSEAL_TEST_RSS_FILE;
if (target) process.on('exit', () => writeFileSync(target, String(process.resourceUsage().maxRSS * 1024)));
