import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { stackTop, trapCrashes } from './fixtures/crash-trap.js'

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

t.test('an error thrown from a timer is recorded with its stack instead of killing the process', async t => {
  const trap = trapCrashes(t)
  setTimeout(function throwFromTimer () { throw new Error('boom from a timer') }, 1)
  await sleep(30)
  t.equal(trap.errors.length, 1, 'one error caught')
  t.equal(trap.errors[0]!.event, 'uncaughtException')
  t.match(stackTop(trap.errors[0]!.error), /throwFromTimer/, 'the stack top names the throw site')
  t.throws(() => { trap.check() }, /boom from a timer[\s\S]*throwFromTimer/, 'the check fails with the stack')
  t.equal(trap.handle((err) => (err as Error).message === 'boom from a timer').length, 1, 'handled as expected here')
  t.doesNotThrow(() => { trap.check() }, 'nothing left: the teardown passes')
})

t.test('a promise rejected with nobody to handle it is recorded', async t => {
  const trap = trapCrashes(t)
  void Promise.reject(new Error('nobody catches me'))
  await sleep(30)
  t.equal(trap.errors.length, 1)
  t.equal(trap.errors[0]!.event, 'unhandledRejection')
  trap.handle()
})

t.test('the same bug hit many times is summarised once, with its count', async t => {
  const trap = trapCrashes(t)
  for (let i = 0; i < 5; i++) setTimeout(function repeat () { throw new Error(`round ${i} too large`) }, 1)
  await sleep(30)
  t.match(trap.summary(), /5 uncaught error\(s\).*1 distinct[\s\S]*x5/)
  trap.handle()
})

t.test('a trapped test that is left with an error fails visibly, naming the throw site', async t => {
  const child = fileURLToPath(new URL('./fixtures/crash-trap-child.ts', import.meta.url))
  // The same TypeScript loader tap gives this process, none of tap's reporting environment: the
  // child is a plain test file run by node, as a user would.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(_?TAP|NODE_OPTIONS)/.test(k)))
  const execArgv = process.execArgv.filter((a) => /typescript|enable-source-maps/.test(a))
  const proc = spawn(process.execPath, [...execArgv, child], { env: { ...env, TS_NODE_TRANSPILE_ONLY: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  proc.stderr.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => { proc.on('close', resolve) })
  t.not(code, 0, 'the child test file fails')
  t.match(out, /not ok \d+ - a test whose timer throws/, 'the trapped test is reported as failed')
  t.match(out, /unhandled boom in the child/, 'with the error')
  t.match(out, /throwFromTimerInChild/, 'and its stack')
})
