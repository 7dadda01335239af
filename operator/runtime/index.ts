// Generic controller machinery for operator/trench; see each module for the why.
export * from './apply.js';
export * from './client.js';
export * from './clock.js';
export * from './controller.js';
export * from './events.js';
export * from './informer.js';
export * from './leader.js';
export * from './log.js';
export * from './manager.js';
export * from './metrics.js';
export * from './server.js';
export * from './shutdown.js';
export * from './status.js';
export * from './types.js';
export * from './workqueue.js';
