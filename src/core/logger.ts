import type { Logger } from './api.js'

const noop = (): void => {}

/** The default: Grapevine says nothing unless the host gives it a logger (pino, fastify.log). */
export const silentLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger
}
