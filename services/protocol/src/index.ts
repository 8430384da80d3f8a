export * from './common.ts';
export * from './errors.ts';
export * from './frames.ts';
export * from './http.ts';
export * from './limits.ts';
export * from './models.ts';
export * from './events.ts';
