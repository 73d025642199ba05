/**
 * Errors the plugin raises while registering, in the `@fastify/error` style so that an app's
 * error handling treats them like Fastify's own (`err.code`, `err.statusCode`).
 */
import createError from '@fastify/error'
// Named, so the emitted declarations do not name the `createError` namespace, which a consumer
// resolving modules as a bundler does cannot see ("Cannot find namespace 'createError'").
import type { FastifyErrorConstructor } from '@fastify/error'

/** An option is missing, of the wrong type or out of range; the message names it. */
export const InvalidOptionError: FastifyErrorConstructor<{ code: 'FST_GRAPEVINE_INVALID_OPTION' }, [option: string, problem: string]> = createError<'FST_GRAPEVINE_INVALID_OPTION', [option: string, problem: string]>(
  'FST_GRAPEVINE_INVALID_OPTION',
  'Invalid grapevine option "%s": %s',
  500,
  TypeError
)

/** The node could not be started (for example its port is taken). */
export const NodeStartError: FastifyErrorConstructor<{ code: 'FST_GRAPEVINE_NODE_START' }, [reason: string]> = createError<'FST_GRAPEVINE_NODE_START', [reason: string]>(
  'FST_GRAPEVINE_NODE_START',
  'Grapevine could not start its gossip node: %s',
  500
)
