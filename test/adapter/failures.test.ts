/**
 * A Socket.IO adapter that cannot work says so: bad options throw from `createAdapter` naming the
 * option; a node that cannot start is logged at `error` (or on the console once, without a
 * logger) and `node()` rejects with the node's error. Real socket.io servers and TCP nodes.
 */
import t, { type Test } from 'tap'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { createAdapter } from '../../src/adapter/index.js'
import type { CreateAdapterOptions } from '../../src/adapter/index.js'
import type { Logger } from '../../src/core/api.js'
import { SECRET, spawnNode, waitFor } from '../fixtures/cluster.js'
import { startServer } from '../fixtures/socketio-cluster.js'

interface Line { level: string, obj: Record<string, unknown>, msg: string | undefined }

function recordingLogger (): Logger & { lines: Line[] } {
  const lines: Line[] = []
  const at = (level: string) => (obj: unknown, msg?: string): void => { lines.push({ level, obj: obj as Record<string, unknown>, msg }) }
  return { lines, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

async function takenPort (t: Test): Promise<number> {
  const blocker = createServer()
  await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  return (blocker.address() as AddressInfo).port
}

t.test('createAdapter without a secret throws at once, naming "secret"', async t => {
  t.throws(() => createAdapter({ port: 0 } as unknown as CreateAdapterOptions), { code: 'ERR_GOSSIP_INVALID_OPTION', message: /option "secret"/ })
})

t.test('createAdapter with the port as a string (straight from process.env) throws at once, naming "port"', async t => {
  const env = { GOSSIP_PORT: '7946' }
  t.throws(() => createAdapter({ secret: SECRET, port: env.GOSSIP_PORT } as unknown as CreateAdapterOptions), { code: 'ERR_GOSSIP_INVALID_OPTION', message: /option "port"/ })
})

t.test('createAdapter with an adapter option out of range or a logger that is not one throws, naming it', async t => {
  t.throws(() => createAdapter({ secret: SECRET, heartbeatInterval: -1 }), { code: 'ERR_GOSSIP_INVALID_OPTION', message: /option "heartbeatInterval"/ })
  t.throws(() => createAdapter({ secret: SECRET, logger: {} as Logger }), { code: 'ERR_GOSSIP_INVALID_OPTION', message: /option "logger"/ })
  t.throws(() => createAdapter({ gossip: {} } as unknown as CreateAdapterOptions), { code: 'ERR_GOSSIP_INVALID_OPTION', message: /option "gossip"/ })
})

t.test('the port taken: the adapter logs at error through its logger, and node() rejects with ERR_GOSSIP_LISTEN', async t => {
  const port = await takenPort(t)
  const logger = recordingLogger()
  const factory = createAdapter({ secret: SECRET, port, logger })
  const server = await startServer(factory, ['/', '/chat'])
  t.teardown(() => server.close())
  await t.rejects(factory.node(), { name: 'GossipError', code: 'ERR_GOSSIP_LISTEN', cause: { code: 'EADDRINUSE' } })
  await waitFor(() => logger.lines.some(line => line.level === 'error'), 'an error line')
  const errors = logger.lines.filter(line => line.level === 'error')
  t.equal(errors.length, 1, 'one line, not one per namespace')
  t.match(errors[0], { obj: { err: { code: 'ERR_GOSSIP_LISTEN' } }, msg: /the gossip node could not start: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/ })
})

t.test('the wrong secret: the adapter logs at error, and node() rejects with ERR_GOSSIP_HANDSHAKE naming "secret"', async t => {
  const seed = await spawnNode()
  t.teardown(() => seed.close())
  const logger = recordingLogger()
  const factory = createAdapter({ secret: 'not the cluster secret', seeds: [seed.address], logger })
  const server = await startServer(factory)
  t.teardown(() => server.close())
  await t.rejects(factory.node(), { code: 'ERR_GOSSIP_HANDSHAKE', message: /option "secret"/ })
  await waitFor(() => logger.lines.some(line => line.level === 'error'), 'an error line')
  t.match(logger.lines.find(line => line.level === 'error'), { msg: /could not start: .*option "secret"/ })
})

t.test('without a logger, a node that cannot start is reported once with console.error', async t => {
  const port = await takenPort(t)
  const printed: unknown[][] = []
  const consoleError = console.error
  console.error = (...args: unknown[]) => { printed.push(args) }
  t.teardown(() => { console.error = consoleError })
  const factory = createAdapter({ secret: SECRET, port })
  const server = await startServer(factory, ['/', '/chat', '/admin'])
  t.teardown(() => server.close())
  await t.rejects(factory.node(), { code: 'ERR_GOSSIP_LISTEN' })
  await waitFor(() => printed.length > 0, 'a console line')
  t.equal(printed.length, 1, 'once, for three namespaces')
  t.match(String(printed[0]![0]), /grapevine-gossip\/socket\.io: the gossip node could not start: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/)
})
