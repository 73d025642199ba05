/**
 * The simulator's replay in a real browser: a 40-node kill50 run traced to a temp dir, served by
 * examples/sim-view.ts, the slider moved before the kill, just after it and to the end.
 * Assertions read the page's models (window.__simReplay, window.__clusterView) and its data
 * attributes, never pixels; screenshots go to .tap/sim-replay/. Needs Debian's chromium at
 * /usr/bin/chromium; without it the test is skipped with the reason, except under CI=true where a
 * missing browser is a failure.
 */
import { test } from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Page } from 'playwright-core'
import { scenarios, type Scenario } from '../../src/core/sim/scenarios.js'
import { TraceRecorder, formatTrace } from '../../src/core/sim/trace.js'
import { startSimView } from '../../examples/sim-view.js'

const CHROMIUM = '/usr/bin/chromium'
const NODES = 40
const root = fileURLToPath(new URL('../../', import.meta.url))

/** The page loads the trace reader compiled: build it when dist is missing or older than the source. */
function ensureBuilt (): void {
  const src = join(root, 'src/core/sim/trace-format.ts')
  const out = join(root, 'dist/src/core/sim/trace-format.js')
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
}

const missing = !existsSync(CHROMIUM)
const skip = missing && process.env.CI !== 'true'
  ? `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run the browser test`
  : false

interface Stats { time: number, alive: number, dead: number, components: number, links: number, drawn: number, drawnAlive: number, lastMessage: { recipients: number, delivered: number, reliability: number } | null }
interface Replay { end: number, time: number, stats: Stats, markers: Array<{ t: number, label: string }>, recovery: Record<string, number | null>, bench: Record<string, number | null>, playing: boolean }
const replayModel = async (page: Page): Promise<Replay> => await page.evaluate<Replay>('window.__simReplay')
const pageModel = async (page: Page): Promise<{ components: number, nodes: Array<{ state: string }>, links: Array<{ kind: string }> }> =>
  await page.evaluate('window.__clusterView')

async function slideTo (page: Page, t: number): Promise<Stats> {
  const slider = page.locator('#replay-time')
  await slider.fill(String(t))
  // The range input snaps to its 10 ms steps, and below its max: the end of a run that does not
  // fall on a step is the step before it.
  const held = Number(await slider.inputValue())
  await page.waitForFunction(`window.__simReplay.time === ${held}`)
  return (await replayModel(page)).stats
}

test('a kill50 replay: all alive before the kill, half greyed after it, one tree of survivors at the end', { skip }, async t => {
  if (missing) {
    t.fail(`${CHROMIUM} is missing; CI must install chromium (apt-get install -y chromium)`)
    return
  }
  ensureBuilt()
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-replay-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const kill50 = scenarios.find(s => s.name === 'kill50') as Scenario
  const recorder = new TraceRecorder({ scenario: 'kill50', nodes: NODES, seed: 1 })
  const result = kill50.run({ nodes: NODES, seed: 1, sim: { observer: recorder } })
  const file = join(dir, 'kill50.json')
  writeFileSync(file, formatTrace(recorder.finish(result)))

  const view = await startSimView({ trace: file })
  t.teardown(() => view.close())
  const profile = mkdtempSync(join(tmpdir(), 'grapevine-chromium-'))
  t.teardown(() => rmSync(profile, { recursive: true, force: true }))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => context.close())
  const page = await context.newPage()
  page.on('pageerror', err => t.fail(`page error: ${err.message}`))
  await page.goto(view.url)
  await page.locator('#status[data-state="open"]').waitFor()
  await page.waitForFunction('window.__simReplay?.stats != null && window.__clusterView.selectedTopic !== ""')

  // It opens just before the first broadcast: every node in, the overlay all eager (no tree yet).
  const opening = await replayModel(page)
  t.match(opening.stats, { alive: NODES, dead: 0, components: 1, drawn: NODES })
  const first = await pageModel(page)
  t.equal(first.nodes.filter(n => n.state === 'live').length, NODES, 'every node drawn live')
  t.ok(first.links.length > 0 && first.links.every(l => l.kind === 'eager'), 'before the first broadcast every link is eager')

  const kill = opening.markers.find(m => m.label.startsWith('kill'))!
  t.ok(kill, 'the kill is marked on the time-line')
  const before = await slideTo(page, kill.t - 10)
  t.match(before, { alive: NODES, dead: 0, components: 1 })
  t.equal(before.lastMessage?.reliability, 1, 'the warm-up broadcasts reached everyone')
  const tree = (await pageModel(page)).links.filter(l => l.kind === 'eager').length
  t.ok(tree >= NODES - 1 && tree < first.links.length, `the first broadcasts pruned the overlay to a tree (${tree} of ${first.links.length} links eager)`)
  const shots = join(root, '.tap', 'sim-replay')
  mkdirSync(shots, { recursive: true })
  await page.screenshot({ path: join(shots, 'before-kill.png') })

  const after = await slideTo(page, kill.t + 10)
  t.match(after, { alive: NODES / 2, dead: NODES / 2, drawn: NODES, drawnAlive: NODES / 2 })
  t.equal(await page.locator('#nodes g[data-state="stale"]').count(), NODES / 2, 'the killed half is drawn greyed')
  await page.screenshot({ path: join(shots, 'after-kill.png') })

  const replay = await replayModel(page)
  t.equal(replay.recovery.recoveryMs, result.recoveryMs, `the replay finds the bench's recovery: 100 % delivery again ${result.recoveryMs} ms after the kill`)
  t.equal(replay.recovery.reliability, result.reliability)
  t.match(await page.textContent('#replay-bench'), new RegExp(`${Math.round(result.recoveryMs!)} ms \\(bench ${Math.round(result.recoveryMs!)} ms\\)`))

  const end = await slideTo(page, replay.end)
  t.match(end, { alive: NODES / 2, dead: NODES / 2, components: 1, drawn: NODES / 2 })
  t.equal(end.lastMessage?.reliability, 1, 'the last broadcast reaches every survivor')
  const last = await pageModel(page)
  t.equal(last.components, 1, 'the page counts one component too')
  t.equal(last.nodes.length, NODES / 2, 'the dead have left the picture')
  t.ok(last.links.filter(l => l.kind === 'eager').length >= NODES / 2 - 1, 'a tree spans the survivors')
  await page.screenshot({ path: join(shots, 'recovered.png') })

  // Play moves the clock on by itself.
  await slideTo(page, kill.t - 2000)
  await page.click('#replay-play')
  await page.waitForFunction(`window.__simReplay.time > ${kill.t}`)
  t.match(await page.textContent('#replay-play'), 'pause')
  t.comment(`screenshots: ${shots}`)
})
