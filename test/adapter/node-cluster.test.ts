/**
 * Socket.IO servers as workers of Node's cluster module (how many run several servers on one
 * host, with @socket.io/sticky in front), each with a gossip node on port 0. In a worker, a plain
 * `listen` goes through the primary: every worker's "port 0" would be one shared port whose
 * links the workers take turns accepting, and the primary would report the node's listen as the
 * worker's `listening`, which harnesses (the official cluster-adapter suite's among them) take to
 * mean its HTTP server is up. A node listens on a socket of its own.
 */
import { randomBytes } from 'node:crypto'
import cluster, { type Worker } from 'node:cluster'
import { freePort } from '../fixtures/net.js'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { IpcCaller, type Reply } from '../fixtures/ipc-caller.js'
import { connectClient, waitFor } from '../fixtures/socketio-cluster.js'
import type { TestClient } from '../fixtures/socketio-cluster.js'

const childPath = fileURLToPath(new URL('../fixtures/socketio-server-child.mjs', import.meta.url))

class ClusterWorker {
  readonly worker: Worker
  /** Ports of the `listening` events the primary saw from this worker. */
  readonly listening: number[] = []
  url = ''
  address = ''
  private readonly ipc: IpcCaller

  constructor () {
    // Without tap's loaders (NODE_OPTIONS): plain JavaScript on the built package.
    this.worker = cluster.fork({ NODE_OPTIONS: '' })
    this.worker.on('listening', (address: { port: number }) => { this.listening.push(address.port) })
    this.ipc = new IpcCaller(this.worker, 'worker')
  }

  async call (cmd: string, args: Record<string, unknown> = {}): Promise<Reply> {
    return await this.ipc.call(cmd, args)
  }
}

t.test('three cluster workers, each node on port 0: one port each, one overlay, and only HTTP reported as listening', async t => {
  cluster.setupPrimary({ exec: childPath, execArgv: [], silent: false })
  const secret = randomBytes(16).toString('hex')
  const workers = [new ClusterWorker(), new ClusterWorker(), new ClusterWorker()]
  const clients: TestClient[] = []
  t.teardown(async () => {
    for (const c of clients) c.socket.disconnect()
    await Promise.all(workers.map(async w => {
      if (w.worker.isDead()) return
      const exited = new Promise(resolve => w.worker.once('exit', resolve))
      await w.call('close').catch(() => { w.worker.kill('SIGKILL') })
      await exited
    }))
  })
  const httpPorts: number[] = []
  for (const [i, w] of workers.entries()) {
    httpPorts.push(await freePort())
    await w.call('start', { secret, httpPort: httpPorts[i], seeds: i === 0 ? [] : [workers[0]!.address] })
      .then(r => { w.url = String(r.url); w.address = String(r.address) })
  }
  const gossipPorts = workers.map(w => Number(w.address.split(':').pop()))
  t.equal(new Set(gossipPorts).size, 3, `three gossip ports (${gossipPorts.join(', ')})`)
  t.same(workers.map(w => w.listening), httpPorts.map(p => [p]), 'the primary saw each worker listen on its HTTP port only')

  for (const [i, w] of workers.entries()) clients.push(await connectClient(w.url, `w${i}`, ['room']))
  await waitFor('every worker counts 3', async () => (await Promise.all(workers.map(async w => (await w.call('serverCount')).count))).every(n => n === 3), 45_000)
  for (const [i, w] of workers.entries()) await w.call('emit', { room: 'room', event: 'hello', args: [i] })
  await waitFor('every client got the three broadcasts', () => clients.every(c => c.got('hello').length === 3))
  for (const c of clients) t.same(c.got('hello').map(a => a[0]).sort(), [0, 1, 2], c.name)
})
