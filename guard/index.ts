// The build guard: finds plaintext model files in a build output (modelseal scan, the Vite plugin).
export { IGNORE_FILE, readIgnoreFile, scanBuild, type ScanError, type ScanFinding, type ScanOptions, type ScanReport, type ScanSkipped } from './scan.js';
export type { FindingKind } from './signatures.js';
