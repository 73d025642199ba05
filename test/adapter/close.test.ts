/**
 * Closing: a process whose Socket.IO servers are closed exits by itself, whatever its broadcasts
 * with acks asked for as a timeout. The base class of the adapter keeps a timer per
 * `emitWithAck` for the whole timeout, even once every ack is in: here, an hour.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const child = fileURLToPath(new URL('../fixtures/ack-exit-child.mjs', import.meta.url))

t.test('after an emitWithAck with an hour-long timeout, io.close() lets the process exit', async t => {
  // Without tap's loaders: the child runs plain JavaScript on the built package.
  const proc = spawn(process.execPath, [child], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } })
  let out = ''
  proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  t.equal(code, 0, 'exited on its own, without error (a timer left running would keep it up for the hour, past this file\'s timeout)')
  t.same(JSON.parse(out), { answers: ['answer 0', 'answer 1'] }, 'both clients acked before the close')
})
