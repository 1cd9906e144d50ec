// The code browser.test.ts bundles into Chromium: the vector runners, on window.modelsealTest.
export { runVector } from './vector-runner.js';
export { runWycheproof } from './wycheproof-cases.js';
