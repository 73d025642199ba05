export * from './core/api.js'
export * from './core/errors.js'
export { defaultConfig, resolveConfig } from './core/proto/config.js'
export type { ProtoConfig, PartialProtoConfig, HyParViewConfig, PlumtreeConfig } from './core/proto/config.js'
