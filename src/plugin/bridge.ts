/**
 * The WebSocket route that lets browsers take part in topics. It is an ordinary Fastify route,
 * so the app's `onRequest` / `preValidation` hooks run before the upgrade and can refuse it.
 */
import websocket from '@fastify/websocket'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { GossipApi } from '../core/api.js'
import { BridgeConnection, CloseCode } from './connection.js'
import type { ResolvedBridgeOptions } from './options.js'
import { MAX_TOPIC_LENGTH } from './protocol.js'
import { TopicHub, type TopicMember } from './topic-hub.js'

/** What the app sees of the bridge, as `fastify.gossipBridge`. */
export interface GossipBridge {
  /**
   * Publishes to every subscriber of `topic`: browsers on this instance and on every other
   * instance, and server handles everywhere. A shortcut: publishing on a handle of
   * `fastify.gossip` reaches the same subscribers (the node hands it to its other handles of the
   * topic, the bridge's among them). The topic stays joined until the app closes.
   */
  publish (topic: string, data: string | Uint8Array): Promise<void>
  /** Browser connections open on this instance. */
  readonly connections: number
}

export interface Bridge {
  /** Connections currently open. */
  readonly connections: ReadonlySet<BridgeConnection>
  readonly api: GossipBridge
  /** Closes every connection with 1001 (going away). */
  disconnectAll (): void
  /** Leaves the topics the bridge joined. */
  close (): Promise<void>
}

export async function registerBridge (
  fastify: FastifyInstance,
  node: GossipApi,
  options: ResolvedBridgeOptions,
  log: FastifyBaseLogger
): Promise<Bridge> {
  const hub = new TopicHub(node, log)
  const connections = new Set<BridgeConnection>()
  // Stands for server code on the hub: it holds the topics it publishes to and receives nothing.
  const server: TopicMember = { deliver () {}, notice () {} }
  const bridge: Bridge = {
    connections,
    api: {
      async publish (topic, data) {
        if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
          throw new TypeError(`topic must be a string of 1 to ${MAX_TOPIC_LENGTH} characters`)
        }
        await hub.join(topic, server)
        await hub.publish(topic, typeof data === 'string' ? Buffer.from(data) : data, server)
      },
      get connections () { return connections.size }
    },
    disconnectAll () {
      for (const connection of [...connections]) connection.close(CloseCode.goingAway, 'server shutting down')
    },
    async close () {
      bridge.disconnectAll()
      await hub.close()
    }
  }

  // Added before @fastify/websocket's own preClose (hooks run in registration order), which
  // would otherwise close the clients with no status code (1005).
  fastify.addHook('preClose', (done) => {
    bridge.disconnectAll()
    done()
  })

  if (!fastify.hasDecorator('websocketServer')) {
    await fastify.register(websocket, { options: { maxPayload: options.maxPayload } })
  }

  fastify.get(options.path, { websocket: true }, (socket, request) => {
    const connectionLog = log.child({ reqId: request.id })
    const connection = new BridgeConnection(socket, request, hub, options, connectionLog, closed => connections.delete(closed))
    connections.add(connection)
    connectionLog.debug('bridge client connected')
  })

  return bridge
}
