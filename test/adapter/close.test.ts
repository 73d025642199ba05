/**
 * Closing: a process whose Socket.IO servers are closed exits by itself, whatever its broadcasts
 * with acks or its requests asked for as a timeout. The base class of the adapter keeps a timer per
 * `emitWithAck` for the whole timeout, even once every ack is in, and one per request still
 * waiting for a server: here, an hour.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const child = fileURLToPath(new URL('../fixtures/ack-exit-child.mjs', import.meta.url))
const fetchChild = fileURLToPath(new URL('../fixtures/fetch-exit-child.mjs', import.meta.url))

/** Runs a child script on the built package; resolves with its exit code and what it printed. */
async function run (script: string): Promise<{ code: number | null, out: string }> {
  // Without tap's loaders: the child runs plain JavaScript on the built package.
  const proc = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } })
  let out = ''
  proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  return { code, out }
}

t.test('after an emitWithAck with an hour-long timeout, io.close() lets the process exit', async t => {
  const { code, out } = await run(child)
  t.equal(code, 0, 'exited on its own, without error (a timer left running would keep it up for the hour, past this file\'s timeout)')
  t.same(JSON.parse(out), { answers: ['answer 0', 'answer 1'] }, 'both clients acked before the close')
})

t.test('a fetchSockets with an hour-long timeout still waiting for a silent server does not keep the process up after io.close()', async t => {
  const { code, out } = await run(fetchChild)
  t.equal(code, 0, 'exited on its own (the request\'s timer, left holding the process, would keep it up for the hour)')
  t.same(JSON.parse(out), { atClose: 'pending' }, 'the request was still waiting when the servers closed')
})
