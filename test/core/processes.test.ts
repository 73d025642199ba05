import t from 'tap'
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { SECRET, collect, spawnNode, waitFor } from '../fixtures/cluster.js'
import { IpcCaller, type Reply } from '../fixtures/ipc-caller.js'

const childPath = fileURLToPath(new URL('../fixtures/node-child.mjs', import.meta.url))

/** A Gossip node in its own process. */
class Child {
  readonly proc: ChildProcess
  private readonly ipc: IpcCaller
  readonly ready: Promise<void>
  nodeId = ''
  address = ''

  constructor () {
    // Without tap's loaders (NODE_OPTIONS): the child runs built JavaScript and starts faster.
    this.proc = fork(childPath, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [], env: { ...process.env, NODE_OPTIONS: '' } })
    this.ipc = new IpcCaller(this.proc, 'child')
    this.ready = this.ipc.ready
  }

  async call (cmd: string, args: Record<string, unknown> = {}): Promise<Reply> {
    return await this.ipc.call(cmd, args)
  }

  async spawn (seeds: string[]): Promise<void> {
    const r = await this.call('spawn', { secret: SECRET, seeds })
    this.nodeId = String(r.nodeId)
    this.address = String(r.address)
  }

  async texts (): Promise<string[]> {
    return ((await this.call('received')).received as Array<{ text: string }>).map(m => m.text)
  }

  kill (): void {
    this.proc.kill('SIGKILL')
  }

  async stop (): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return
    const exited = new Promise(resolve => this.proc.once('exit', resolve))
    await this.call('close').catch(() => this.proc.kill('SIGKILL'))
    await exited
  }
}

t.test('three nodes in three processes deliver every message to the two others', async t => {
  const children = [new Child(), new Child(), new Child()]
  t.teardown(async () => { await Promise.all(children.map(async c => await c.stop())) })
  await children[0]!.spawn([])
  await children[1]!.spawn([children[0]!.address])
  await children[2]!.spawn([children[0]!.address])
  for (const c of children) await c.call('stream', { topic: 'proc' })
  await waitFor(async () => {
    const n = await Promise.all(children.map(async c => ((await c.call('neighbours', { topic: 'proc' })).neighbours as string[]).length))
    return n.every(x => x >= 2)
  }, 'a full mesh of three')
  for (const [i, c] of children.entries()) await c.call('publish', { topic: 'proc', text: `from ${i}` })
  await waitFor(async () => (await Promise.all(children.map(async c => (await c.texts()).length))).every(n => n === 2), 'two messages each')
  for (const [i, c] of children.entries()) {
    t.same((await c.texts()).sort(), [0, 1, 2].filter(j => j !== i).map(j => `from ${j}`), `process ${i}`)
  }
})

t.test('kill -9 of one process: its neighbours see neighbourDown(failure) and the rest keep delivering', async t => {
  const children = [new Child(), new Child(), new Child()]
  t.teardown(async () => { await Promise.all(children.map(async c => await c.stop())) })
  await children[0]!.spawn([])
  await children[1]!.spawn([children[0]!.address])
  await children[2]!.spawn([children[0]!.address])
  for (const c of children) await c.call('stream', { topic: 'kill' })
  await waitFor(async () => {
    const n = await Promise.all(children.map(async c => ((await c.call('neighbours', { topic: 'kill' })).neighbours as string[]).length))
    return n.every(x => x >= 2)
  }, 'a full mesh of three')
  const victim = children[2]!
  victim.kill()
  for (const c of children.slice(0, 2)) {
    await waitFor(async () => ((await c.call('events')).events as Array<{ type: string, peer?: string, reason?: string }>)
      .some(e => e.type === 'neighbourDown' && e.peer === victim.nodeId && e.reason === 'failure'), 'neighbourDown(failure)')
  }
  t.pass('both survivors saw neighbourDown with reason failure')
  await children[0]!.call('publish', { topic: 'kill', text: 'after the kill' })
  await waitFor(async () => (await children[1]!.texts()).includes('after the kill'), 'delivery after the kill')
  await children[1]!.call('publish', { topic: 'kill', text: 'and back' })
  await waitFor(async () => (await children[0]!.texts()).includes('and back'), 'delivery the other way')
  t.pass('the survivors keep delivering both ways')
})

t.test('the contact dies before a third node joins through another seed: messages flow both ways', async t => {
  const contact = new Child()
  const second = new Child()
  t.teardown(async () => { await Promise.all([contact, second].map(async c => await c.stop())) })
  await contact.spawn([])
  await second.spawn([contact.address])
  await contact.call('stream', { topic: 'heal' })
  await second.call('stream', { topic: 'heal' })
  await waitFor(async () => ((await second.call('neighbours', { topic: 'heal' })).neighbours as string[]).length > 0, 'second joined')
  contact.kill()
  // The newcomer knows both; the first it tries is dead.
  const third = await spawnNode({ seeds: [contact.address, second.address] })
  t.teardown(async () => await third.close())
  const h = await third.stream('heal')
  const inbox = collect(h)
  await waitFor(() => h.neighbours().includes(second.nodeId), 'the newcomer found the live node')
  await h.publish('from the newcomer')
  await waitFor(async () => (await second.texts()).includes('from the newcomer'), 'newcomer → second')
  await second.call('publish', { topic: 'heal', text: 'from the second' })
  await waitFor(() => inbox.texts().includes('from the second'), 'second → newcomer')
  t.pass('messages flow both ways after the contact died')
})

t.test('topic discovery: two nodes that share only a bootstrap node not in the topic find each other', async t => {
  const hub = await spawnNode()
  const a = await spawnNode({ seeds: [hub.address] })
  const b = await spawnNode({ seeds: [hub.address] })
  t.teardown(async () => { await Promise.all([hub, a, b].map(async n => await n.close())) })
  const ha = await a.stream('meet')
  const hb = await b.stream('meet')
  const inbox = collect(hb)
  await waitFor(() => ha.neighbours().includes(b.nodeId), 'a and b are neighbours')
  await ha.publish('found you')
  await waitFor(() => inbox.texts().includes('found you'), 'delivery')
  t.same(hb.neighbours(), [a.nodeId], 'the hub, not in the topic, is not a neighbour')
})
