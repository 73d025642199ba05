import t from 'tap'
import { spawnNode, waitFor } from '../fixtures/cluster.js'
import { recordingLogger } from '../fixtures/net.js'

t.test('topics without a neighbour for 10 s are reported once, in one line, and again when they have neighbours', async t => {
  const { logger, entries: lines } = recordingLogger()
  const lonely = await spawnNode({ logger })
  t.teardown(async () => await lonely.close())
  await lonely.stream('nobody-here')
  await lonely.stream('nobody-here-either')
  const warnings = (): typeof lines => lines.filter(l => l.level === 'warn' && /without a neighbour/.test(l.msg ?? ''))
  await waitFor(() => warnings().length > 0, 'the warning', 40_000)
  t.equal((warnings()[0]!.obj as { topics: number }).topics, 2, 'both topics, one line')
  t.match(warnings()[0]!.msg, /2 topic\(s\) without a neighbour for more than 10 s/)
  const other = await spawnNode({ seeds: [lonely.address] })
  t.teardown(async () => await other.close())
  await other.stream('nobody-here')
  await waitFor(() => lines.some(l => l.level === 'info' && /1 topic\(s\) have neighbours again/.test(l.msg ?? '')), 'the all-clear', 40_000)
  t.equal(warnings().length, 1, 'the topic still alone is not reported twice')
})
