/**
 * Three Socket.IO servers as three processes, each spawning its own gossip node over TCP on
 * 127.0.0.1, with clients in this process, all three started at the same time with a single seed
 * (server 0). One server dies (kill -9) or closes; the two others keep serving each other and stop
 * counting it.
 */
import { randomBytes } from 'node:crypto'
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { freePort } from '../fixtures/net.js'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import { connectClient, waitFor } from '../fixtures/socketio-cluster.js'
import type { TestClient } from '../fixtures/socketio-cluster.js'

const childPath = fileURLToPath(new URL('../fixtures/socketio-server-child.mjs', import.meta.url))

interface Reply { id: number, ok: boolean, error?: string, [k: string]: unknown }

class ServerProcess {
  readonly proc: ChildProcess
  readonly ready: Promise<void>
  url = ''
  address = ''
  private seq = 0
  private readonly pending = new Map<number, { resolve: (r: Reply) => void, reject: (e: Error) => void }>()

  constructor () {
    // Without tap's loaders (NODE_OPTIONS): the child runs plain JavaScript on the built package,
    // and coverage hooks would make it start many times slower.
    this.proc = fork(childPath, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [], env: { ...process.env, NODE_OPTIONS: '' } })
    this.ready = new Promise(resolve => {
      this.proc.on('message', (m: Reply & { ready?: boolean }) => {
        if (m.ready === true) return resolve()
        this.pending.get(m.id)?.resolve(m)
        this.pending.delete(m.id)
      })
    })
    this.proc.once('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error('server process exited'))
      this.pending.clear()
    })
  }

  get alive (): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null
  }

  async call (cmd: string, args: Record<string, unknown> = {}): Promise<Reply> {
    await this.ready
    const id = this.seq++
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.proc.send({ id, cmd, args })
    })
    if (!reply.ok) throw new Error(`server ${cmd} failed: ${reply.error}`)
    return reply
  }

  async start (args: Record<string, unknown>): Promise<void> {
    const r = await this.call('start', args)
    this.url = String(r.url)
    this.address = String(r.address)
  }

  async serverCount (): Promise<number> {
    return (await this.call('serverCount')).count as number
  }

  async fetchSocketNames (timeout: number): Promise<string[]> {
    return ((await this.call('fetchSockets', { timeout })).names as string[]).sort()
  }

  kill (): void {
    this.proc.kill('SIGKILL')
  }

  async stop (): Promise<void> {
    if (!this.alive) return
    const exited = new Promise(resolve => this.proc.once('exit', resolve))
    await this.call('close').catch(() => { this.proc.kill('SIGKILL') })
    await exited
  }
}

async function threeServers (t: Test, adapterOptions: Record<string, unknown>) {
  const secret = randomBytes(16).toString('hex')
  const servers = [new ServerProcess(), new ServerProcess(), new ServerProcess()]
  const clients: TestClient[] = []
  t.teardown(async () => {
    for (const c of clients) c.socket.disconnect()
    await Promise.all(servers.map(async s => { await s.stop() }))
  })
  // All three at the same time, with one seed (server 0) on a port chosen beforehand: servers 1 and
  // 2 may dial it before it listens. (Once measured: servers started together sat isolated for
  // 30 s, a refused seed being retried only at the refresh interval.) The wait below is shorter.
  const seed = `127.0.0.1:${await freePort()}`
  const started = Date.now()
  await Promise.all(servers.map(async (s, i) => {
    await s.start({ secret, ...(i === 0 ? { port: Number(seed.split(':')[1]) } : { seeds: [seed] }), ...adapterOptions })
  }))
  t.equal(servers[0]!.address, seed, 'the seed listens where the others were told to dial')
  for (const [i, s] of servers.entries()) clients.push(await connectClient(s.url, `s${i}`, ['room']))
  let counts: number[] = []
  try {
    // About 1 s on a quiet machine and up to 12 s with the cores saturated; it once missed 20 s
    // in a loaded full run. The time is printed below; the wait is for the count, not a speed.
    await waitFor('every server counts 3', async () => (counts = await Promise.all(servers.map(async s => await s.serverCount()))).every(n => n === 3), 45_000)
  } catch (err) {
    // What each server knows of the others and what its node is linked to, for the diagnosis: in
    // the failing assertion itself, as a CI log that keeps only its tail still shows that.
    const diagnosis = await Promise.all(servers.map(async s => await s.call('diagnose').then(d => ({ ...d, logs: (d.logs as string[]).slice(-25) }), (e: unknown) => String(e))))
    t.fail(`every server counts 3: counts ${counts.join(', ')} after ${Date.now() - started} ms`, { diagnosis })
    throw err
  }
  t.comment(`every server counts 3 ${Date.now() - started} ms after the three started`)
  return { servers, clients }
}

t.test('kill -9 of one server: the others keep broadcasting, count 2, and fetch without it', async t => {
  const { servers, clients } = await threeServers(t, { heartbeatInterval: 500, heartbeatTimeout: 2_500 })
  const [a, b, dead] = servers as [ServerProcess, ServerProcess, ServerProcess]
  const lost = new Promise(resolve => clients[2]!.socket.once('disconnect', resolve))
  dead.kill()
  await lost
  // Started before the survivors noticed the death: must complete without it, not hang or fail.
  const inFlight = a.fetchSocketNames(60_000)
  await a.call('emit', { room: 'room', event: 'after-kill', args: ['from a'] })
  await b.call('emit', { room: 'room', event: 'after-kill', args: ['from b'] })
  await waitFor('both survivors\' clients got both broadcasts', () => clients.slice(0, 2).every(c => c.got('after-kill').length === 2))
  for (const c of clients.slice(0, 2)) t.same(c.got('after-kill').map(args => args[0]).sort(), ['from a', 'from b'], c.name)
  t.same(await inFlight, ['s0', 's1'], 'a fetchSockets in flight completes without the dead server')
  await waitFor('both survivors count 2', async () => (await a.serverCount()) === 2 && (await b.serverCount()) === 2)
  t.same(await b.fetchSocketNames(60_000), ['s0', 's1'], 'fetchSockets returns without the dead server')
})

t.test('a server that closes is dropped by the others at once, long before any heartbeat timeout', async t => {
  const { servers, clients } = await threeServers(t, { heartbeatInterval: 600_000, heartbeatTimeout: 1_200_000 })
  const [a, b, leaving] = servers as [ServerProcess, ServerProcess, ServerProcess]
  await leaving.stop()
  await waitFor('both remaining servers count 2', async () => (await a.serverCount()) === 2 && (await b.serverCount()) === 2)
  t.same(await a.fetchSocketNames(60_000), ['s0', 's1'])
  await b.call('emit', { room: 'room', event: 'after-close', args: [] })
  await waitFor('both remaining clients', () => clients.slice(0, 2).every(c => c.got('after-close').length === 1))
  t.pass('broadcasts still flow')
})
