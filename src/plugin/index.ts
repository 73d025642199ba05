/**
 * `grapevine-gossip/fastify`: decorates a Fastify app with a gossip node (`fastify.gossip`) and,
 * optionally, a WebSocket bridge that lets browsers publish and subscribe.
 *
 *   await app.register(grapevine, { secret, seeds: ['10.0.0.2:7946'], bridge: true })
 *   const room = await app.gossip.stream('room:42')
 */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { GossipApi, Logger } from '../core/api.js'
import { registerBridge, type Bridge, type GossipBridge } from './bridge.js'
import { GossipError } from '../core/errors.js'
import { InvalidOptionError, NodeStartError } from './errors.js'
import { resolveOptions, type GrapevineOptions } from './options.js'
import { spawnNode } from './spawn-node.js'

export type { GrapevineOptions, BridgeOptions, Authorize, BridgeAction } from './options.js'
export type { GossipBridge } from './bridge.js'
export { InvalidOptionError, NodeStartError } from './errors.js'
export type { ErrorCode as BridgeErrorCode, PayloadFormat } from './protocol.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The gossip node of this app (created by the plugin, or the one passed as `gossip`). */
    gossip: GossipApi
    /** The WebSocket bridge, present when the plugin was registered with `bridge`. */
    gossipBridge: GossipBridge
  }
}

const grapevinePlugin: FastifyPluginAsync<GrapevineOptions> = async (fastify, opts) => {
  const options = resolveOptions(opts)
  const log = fastify.log.child({ plugin: 'grapevine' })

  let node: GossipApi
  const owned = options.gossip === undefined
  if (options.gossip !== undefined) {
    node = options.gossip
  } else {
    const nodeOptions = options.node!
    try {
      node = await spawnNode({ ...nodeOptions, logger: nodeOptions.logger ?? (log as Logger) })
    } catch (err) {
      // The node checks its options too; its verdict is reported like the plugin's own.
      const named = err instanceof GossipError && err.code === 'ERR_GOSSIP_INVALID_OPTION' ? /option "([^"]+)" (.*)/.exec(err.message) : null
      if (named !== null) throw new InvalidOptionError(named[1]!, named[2]!)
      const failure = new NodeStartError(err instanceof Error ? err.message : String(err))
      failure.cause = err
      throw failure
    }
    log.info({ nodeId: node.nodeId, address: node.address }, 'gossip node started')
  }

  let bridge: Bridge | undefined
  try {
    fastify.decorate('gossip', node)
    if (options.bridge !== undefined) {
      bridge = await registerBridge(fastify, node, options.bridge, log)
      fastify.decorate('gossipBridge', bridge.api)
    }
  } catch (err) {
    if (owned) await node.close()
    throw err
  }

  fastify.addHook('onClose', async () => {
    // Topics the bridge joined are left first, so peers see a graceful leave, then the node goes.
    await bridge?.close()
    if (owned) await node.close()
  })
}

export const grapevine = fp(grapevinePlugin, { fastify: '5.x', name: 'grapevine' })
export default grapevine
