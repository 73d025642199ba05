import t from 'tap'
import { createServer } from 'node:net'
import { spawnNode, waitFor } from '../fixtures/cluster.js'
import { freePort, recordingLogger } from '../fixtures/net.js'

t.test('a seed that comes up late is dialled again with backoff, long before the refresh interval', async t => {
  const port = await freePort()
  const started = Date.now()
  // With a refresh of a minute, only the backoff can link these two within the test's wait.
  const early = await spawnNode({ seeds: [`127.0.0.1:${port}`], seedRefreshInterval: 60_000 })
  t.teardown(async () => await early.close())
  await new Promise(resolve => setTimeout(resolve, 1_500))
  const seed = await spawnNode({ port })
  t.teardown(async () => await seed.close())
  const seedUp = Date.now()
  const a = await early.stream('late')
  const b = await seed.stream('late')
  await waitFor(() => a.neighbours().length > 0 && b.neighbours().length > 0, 'the late seed is found and the topic joined', 30_000)
  t.comment(`linked ${Date.now() - seedUp} ms after the seed came up (${Date.now() - started} ms after the first attempt)`)
  t.pass('found without waiting for the 60 s refresh')
})

t.test('a node that reaches none of its seeds says so once, naming each seed and its last error, and again only after it was linked', async t => {
  const { logger, entries: lines } = recordingLogger()
  const port = await freePort()
  const lonely = await spawnNode({ seeds: [`127.0.0.1:${port}`], seedRefreshInterval: 60_000, logger })
  t.teardown(async () => await lonely.close())
  const alone = (): typeof lines => lines.filter(l => l.level === 'warn' && /no seed reachable/.test(l.msg ?? ''))
  await waitFor(() => alone().length > 0, 'the warning', 30_000)
  const [warning] = alone()
  const { seeds } = warning!.obj as { seeds: Array<{ addr: string, lastError: string }> }
  t.same(seeds.map(s => s.addr), [`127.0.0.1:${port}`], 'it names the seed')
  t.match(seeds[0]!.lastError, /ECONNREFUSED/, 'and the last error')
  // More failed attempts, no more warnings.
  const attempts = (): number => lines.filter(l => l.msg === 'seed not reachable').length
  const seen = attempts()
  await waitFor(() => attempts() >= seen + 2, 'two more attempts', 30_000)
  t.equal(alone().length, 1, 'said once')
  const seed = await spawnNode({ port })
  t.teardown(async () => await seed.close())
  await waitFor(() => lines.some(l => l.level === 'info' && /linked to a seed again/.test(l.msg ?? '')), 'the all-clear', 30_000)
  t.pass('and it says when it is linked again')
})

t.test('start does not wait for a seed that never answers once another seed is linked', async t => {
  // A seed host that accepts connections and then says nothing: its handshake would only time out.
  const silent = createServer(() => {})
  const held = new Set<import('node:net').Socket>()
  silent.on('connection', s => { held.add(s); s.on('close', () => held.delete(s)) })
  await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const s of held) s.destroy()
    await new Promise<void>(resolve => silent.close(() => resolve()))
  })
  const live = await spawnNode({})
  t.teardown(async () => await live.close())
  const node = await spawnNode({
    seeds: [`127.0.0.1:${(silent.address() as { port: number }).port}`, live.address],
    handshakeTimeout: 60_000
  })
  t.teardown(async () => await node.close())
  t.equal(held.size, 1, 'spawn resolved while the silent seed\'s handshake was still pending')
  t.equal(node.traffic().links, 1, 'linked to the live seed')
})
