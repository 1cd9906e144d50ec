// `modelseal seal <path> --out <dir> --model-id <id>`: the definition; the work is in cli/actions/seal.ts,
// loaded when the command runs (so `--help` does not load the keystore and the ciphers).

import { Command, Option } from 'commander';
import type { SealCommandOptions } from '../actions/seal.js';
import { masterKeyOption, parseChunkSize, parseId, parseShardSize, parseUrl, storeOption } from '../options.js';

/** The `seal` command. */
export const sealCommand = new Command('seal')
  .description('seal a model into encrypted shards plus a public model.json: a TensorFlow.js model.json, a single file (an .onnx model with its external data), or a folder (every file)')
  .argument('<path>', 'a TF.js model.json (weight files read from its folder), a file such as model.onnx, or a folder')
  .requiredOption('--out <dir>', 'output folder (created; must be absent or empty unless --force)')
  .requiredOption('--model-id <id>', 'model id: 1-128 of A-Z a-z 0-9 . _ -', parseId)
  .addOption(storeOption())
  .addOption(masterKeyOption())
  .option('--key-server <url>', 'key server URL to record in the manifest', parseUrl)
  .option('--shard-size <bytes>', 'plaintext bytes per shard, e.g. 4MiB (rounded up to a multiple of the chunk size)', parseShardSize)
  .option('--chunk-size <bytes>', 'chunk length, 1KiB to 16MiB (default 256KiB)', parseChunkSize)
  .addOption(new Option('--header <mode>', 'put the encrypted header inline in model.json, in its own file, or decide by size').choices(['inline', 'file', 'auto']).default('auto'))
  .option('--new-key', 'rotate first: seal with a new key version (the previous one is retired)')
  .option('--force', 'replace a non-empty --out folder (atomically)')
  .option('--no-create-store', 'fail instead of creating a missing keystore (for CI; also MODELSEAL_NO_CREATE=1)')
  .option('--allow-inside-source', 'allow --out in a folder that also holds the plaintext model (e.g. both under public/)')
  .addOption(new Option('--kind <kind>', 'seal PATH as a TF.js model (tfjs) or as files (files); default: a folder or a file not named *.json is files').choices(['tfjs', 'files']))
  .option('--include-hidden', 'folder form: also seal hidden files and folders (names starting with "."), left out by default')
  .option('--json', 'print a machine-readable summary on stdout')
  .action(async (modelPath: string, opts: SealCommandOptions) => {
    const { collectSeal, printSeal } = await import('../actions/seal.js');
    printSeal(await collectSeal(modelPath, opts), opts);
  });
