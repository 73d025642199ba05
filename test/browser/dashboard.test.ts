/**
 * The dashboard in a real browser: four nodes, three of them in their own processes, drawn by the
 * page one instance serves; one process killed with SIGKILL greys out, then leaves. Assertions
 * read the model the page exposes (window.__clusterView) and its data attributes, never pixels.
 * Needs Debian's chromium at /usr/bin/chromium; without it the test is skipped with the reason,
 * except under CI=true where a missing browser is a failure.
 */
import { test } from 'tap'
import Fastify from 'fastify'
import { execFileSync, fork, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Page } from 'playwright-core'
import grapevine from '../../src/plugin/index.js'
import { SECRET } from '../fixtures/cluster.js'

const CHROMIUM = '/usr/bin/chromium'
const root = fileURLToPath(new URL('../../', import.meta.url))
const childPath = fileURLToPath(new URL('../fixtures/node-child.mjs', import.meta.url))
/** Short intervals: summaries every 200 ms, with no byte budget to space them out. */
const SUMMARY = { interval: 200, bytesPerSecond: 1e9 }
const REMOVE_AFTER = 1500

/** The children run the built package: build it when a source they use is newer than its output. */
function ensureBuilt (): void {
  const pairs = ['core/cluster-summary', 'core/cluster-publisher', 'core/gossip', 'core/api'].map(f => [join(root, `src/${f}.ts`), join(root, `dist/src/${f}.js`)] as const)
  if (pairs.every(([src, out]) => existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs)) return
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
}

/** A gossip node in its own process (test/fixtures/node-child.mjs), publishing its summary. */
class Child {
  readonly proc: ChildProcess
  nodeId = ''
  private readonly started: Promise<void>

  constructor (seed: string) {
    this.proc = fork(childPath, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [], env: { ...process.env, NODE_OPTIONS: '' } })
    this.started = new Promise((resolve, reject) => {
      this.proc.on('message', (m: { ready?: boolean, ok?: boolean, nodeId?: string, error?: string }) => {
        if (m.ready === true) this.proc.send({ id: 0, cmd: 'spawn', args: { secret: SECRET, seeds: [seed], clusterSummary: SUMMARY } })
        else if (m.ok === true) { this.nodeId = m.nodeId!; resolve() } else reject(new Error(m.error))
      })
      this.proc.once('exit', code => reject(new Error(`child exited with ${code}`)))
    })
  }

  async ready (): Promise<void> { await this.started }
  kill (): void { this.proc.kill('SIGKILL') }
}

const missing = !existsSync(CHROMIUM)
const skip = missing && process.env.CI !== 'true'
  ? `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run the browser test`
  : false

interface Model {
  components: number
  selectedTopic: string
  nodes: Array<{ id: string, state: string, health: string, x?: number, y?: number }>
  links: Array<{ a: string, b: string, kind: string }>
  snapshot: { nodes: Array<{ id: string, state: string }>, topics: Array<{ id: string, name?: string, members: string[] }> } | null
}
const model = async (page: Page): Promise<Model> => await page.evaluate<Model>('window.__clusterView')

test('the dashboard draws every node and link; a killed node greys out, then leaves', { skip }, async t => {
  if (missing) {
    t.fail(`${CHROMIUM} is missing; CI must install chromium (apt-get install -y chromium)`)
    return
  }
  ensureBuilt()
  const app = Fastify()
  await app.register(grapevine, { secret: SECRET, port: 0, clusterSummary: SUMMARY, dashboard: { removeAfter: REMOVE_AFTER, refresh: 200 } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const children = [0, 1, 2].map(() => new Child(app.gossip.address))
  t.teardown(() => { for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.kill() })

  const profile = mkdtempSync(join(tmpdir(), 'grapevine-chromium-'))
  t.teardown(() => rmSync(profile, { recursive: true, force: true }))
  const [context] = await Promise.all([
    chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1200, height: 800 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    }),
    ...children.map(async c => await c.ready())
  ])
  t.teardown(() => context.close())
  const ids = [app.gossip.nodeId, ...children.map(c => c.nodeId)]

  const page = await context.newPage()
  page.on('pageerror', err => t.fail(`page error: ${err.message}`))
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/gossip/dashboard`
  await page.goto(url)
  await page.locator('#status[data-state="open"]').waitFor()

  // Every node, live, and a connected graph: each node has a link.
  await page.waitForFunction(`(() => {
    const m = window.__clusterView
    const ids = ${JSON.stringify(ids)}
    return m.snapshot !== null && ids.every(id => m.nodes.some(n => n.id === id && n.state === 'live')) &&
      ids.every(id => m.links.some(l => l.a === id || l.b === id)) && m.components === 1
  })()`)
  const drawn = await model(page)
  t.equal(drawn.nodes.length, 4, 'four nodes drawn')
  t.ok(drawn.nodes.every(n => Number.isFinite(n.x) && Number.isFinite(n.y)), 'each has a position in the layout')
  // A summary 500 ms late (2.5 intervals) greys a node until the next one: on a loaded machine the
  // drawing may catch such a moment, so it is waited for, not read once.
  await page.waitForFunction('document.querySelectorAll(\'#nodes g[data-state="live"]\').length === 4')
  t.pass('four live node elements')
  t.ok(await page.locator('#links line').count() >= 3, 'links drawn')
  t.match(await page.textContent('#node-count'), /^4$/)

  // The summary topic spans every node: picked, its tree shows as eager (solid) edges.
  const clusterTopic = drawn.snapshot!.topics.find(topic => topic.name === '(cluster summaries)')
  t.ok(clusterTopic, 'the summary topic is listed')
  await page.selectOption('#topic', clusterTopic!.id)
  await page.waitForFunction('window.__clusterView.links.filter(l => l.kind === \'eager\').length >= 3')
  const picked = await model(page)
  t.equal(picked.selectedTopic, clusterTopic!.id)
  t.ok(picked.links.filter(l => l.kind === 'eager').length >= 3, 'a tree spanning four nodes: three solid edges at least')
  // The model and the drawing are read in one turn of the page: a summary arriving between two
  // reads may add a tree edge to both.
  const sameTurn = await page.evaluate<{ modelled: number, drawn: number }>(`(() => ({
    modelled: window.__clusterView.links.filter(l => l.kind === 'eager').length,
    drawn: document.querySelectorAll('#links line[data-kind="eager"]').length
  }))()`)
  t.equal(sameTurn.drawn, sameTurn.modelled, 'drawn as such')

  const shots = join(root, '.tap', 'dashboard')
  mkdirSync(shots, { recursive: true })
  await page.screenshot({ path: join(shots, 'dashboard-4-nodes.png') })

  // SIGKILL: no goodbye. Its neighbours lose the link at once and say so: it greys out.
  const victim = children[1]!
  victim.kill()
  const killedAt = performance.now()
  const stale = page.locator(`#nodes g[data-node="${victim.nodeId}"][data-state="stale"]`)
  await stale.waitFor()
  t.pass(`the killed node greys out (${Math.round(performance.now() - killedAt)} ms)`)
  await page.screenshot({ path: join(shots, 'dashboard-killed.png') })
  await page.locator(`#nodes g[data-node="${victim.nodeId}"]`).waitFor({ state: 'detached', timeout: REMOVE_AFTER + 5000 })
  t.pass(`then leaves (${Math.round(performance.now() - killedAt)} ms after the kill; removeAfter ${REMOVE_AFTER} ms)`)
  const others = JSON.stringify(ids.filter(id => id !== victim.nodeId).sort())
  await page.waitForFunction(`JSON.stringify(window.__clusterView.nodes.filter(n => n.state === 'live').map(n => n.id).sort()) === ${JSON.stringify(others)}`)
  t.pass('the three others are live, and only they')
  t.comment(`screenshots: ${join(shots, 'dashboard-4-nodes.png')}, ${join(shots, 'dashboard-killed.png')}`)
})
