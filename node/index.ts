// modelseal/node: Node-only helpers for services and tools that seal or load sealed models.
export { nodeChunkCipher } from './chunk-cipher.js';
