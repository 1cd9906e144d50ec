// The tests' static file server is the demo's (examples/demo/static-server.ts): one copy for both.
export { CONTENT_TYPES, startStaticServer, type StaticServer, type StaticServerOptions } from '../../examples/demo/static-server.js';
