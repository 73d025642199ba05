/**
 * `grapevine-gossip/fastify`: decorates a Fastify app with a gossip node (`fastify.gossip`) and,
 * optionally, a WebSocket bridge that lets browsers publish and subscribe.
 *
 *   await app.register(grapevine, { secret, seeds: ['10.0.0.2:7946'], bridge: true })
 *   const room = await app.gossip.stream('room:42')
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { GossipApi, Logger } from '../core/api.js'
import { registerBridge, type Bridge, type GossipBridge } from './bridge.js'
import { GossipError } from '../core/errors.js'
import { registerMetrics, type NodeMetrics } from '../core/metrics.js'
import { CLUSTER_TOPIC_ID } from '../core/cluster-summary.js'
import { registerDashboard, type Dashboard } from './dashboard.js'
import { InvalidOptionError, NodeStartError } from './errors.js'
import { resolveOptions, type GrapevineOptions } from './options.js'
import { spawnNode } from './spawn-node.js'

export type { GrapevineOptions, BridgeOptions, Authorize, BridgeAction, HealthOptions, PluginMetricsOptions, DashboardOptions, DashboardAuthorize } from './options.js'
export type { GossipBridge } from './bridge.js'
export { InvalidOptionError, NodeStartError } from './errors.js'
export type { ErrorCode as BridgeErrorCode, PayloadFormat } from './protocol.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The gossip node of this app (created by the plugin, or the one passed as `gossip`), with
     * `peers()` and `stats()` for a view of the cluster.
     */
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
      const invalid = asInvalidOption(err)
      if (invalid !== undefined) throw invalid
      const failure = new NodeStartError(err instanceof Error ? err.message : String(err))
      failure.cause = err
      throw failure
    }
    // The node itself says once who it is and where it listens.
  }

  let bridge: Bridge | undefined
  let metrics: NodeMetrics | undefined
  let dashboard: Dashboard | undefined
  try {
    fastify.decorate('gossip', node)
    if (options.bridge !== undefined) {
      bridge = await registerBridge(fastify, node, options.bridge, log)
      fastify.decorate('gossipBridge', bridge.api)
    }
    if (options.health !== undefined) registerHealth(fastify, node, options.health)
    if (options.metrics !== undefined) metrics = await registerMetrics(node, options.metrics)
    if (options.dashboard !== undefined) dashboard = await registerDashboard(fastify, node, options.dashboard, log)
  } catch (err) {
    await dashboard?.close()
    await bridge?.close()
    if (owned) await node.close()
    // A registry that already holds grapevine metrics (two apps on one registry) is an option error.
    throw asInvalidOption(err) ?? err
  }

  fastify.addHook('onClose', async () => {
    metrics?.close()
    await dashboard?.close()
    // Topics the bridge joined are left first, so peers see a graceful leave, then the node goes.
    await bridge?.close()
    if (owned) await node.close()
  })
}

/** What the health route answers: 200 with `status: 'ok'`, or 503 with `status: 'unavailable'` and why. */
export interface GossipHealth {
  status: 'ok' | 'unavailable'
  nodeId: string
  address: string
  running: boolean
  links: number
  topics: number
  /** Topics without an active-view neighbour: their publishes wait, their subscribers hear nothing. */
  topicsWithoutNeighbour: number
}

function registerHealth (fastify: FastifyInstance, node: GossipApi, path: string): void {
  fastify.get(path, async (_request, reply) => {
    const stats = node.stats()
    // The dashboard's summary topic is the node's business, not the app's: alone in it is not unhealthy.
    const topics = stats.topics.filter(topic => topic.topic !== CLUSTER_TOPIC_ID)
    const alone = topics.filter(topic => topic.neighbours === 0).length
    const ok = stats.running && alone === 0
    const health: GossipHealth = {
      status: ok ? 'ok' : 'unavailable',
      nodeId: stats.nodeId,
      address: stats.address,
      running: stats.running,
      links: stats.links,
      topics: topics.length,
      topicsWithoutNeighbour: alone
    }
    return await reply.code(ok ? 200 : 503).send(health)
  })
}

export const grapevine = fp(grapevinePlugin, { fastify: '5.x', name: 'grapevine' })
export default grapevine

/** A core `ERR_GOSSIP_INVALID_OPTION` as the plugin's own error, naming the option; else undefined. */
function asInvalidOption (err: unknown): InstanceType<typeof InvalidOptionError> | undefined {
  if (!(err instanceof GossipError) || err.code !== 'ERR_GOSSIP_INVALID_OPTION') return undefined
  const named = /option "([^"]+)":? (.*)/.exec(err.message)
  if (named === null) return undefined
  const invalid = new InvalidOptionError(named[1]!, named[2]!)
  invalid.cause = err
  return invalid
}
