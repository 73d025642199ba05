/**
 * The WebSocket route that lets browsers take part in topics. It is an ordinary Fastify route,
 * so the app's `onRequest` / `preValidation` hooks run before the upgrade and can refuse it.
 */
import websocket from '@fastify/websocket'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { GossipApi } from '../core/api.js'
import { BridgeConnection, CloseCode } from './connection.js'
import type { ResolvedBridgeOptions } from './options.js'
import { TopicHub } from './topic-hub.js'

export interface Bridge {
  /** Connections currently open. */
  readonly connections: ReadonlySet<BridgeConnection>
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
  const bridge: Bridge = {
    connections,
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
    const connection = new BridgeConnection(socket, request, hub, options, request.log, closed => connections.delete(closed))
    connections.add(connection)
    request.log.debug('bridge client connected')
  })

  return bridge
}
