/**
 * Frame rate of the simulation replay in headless Chromium: the page plays a trace at 1x from
 * just before the first broadcast until the first kill or partition (every node drawn, the tree
 * forming), then at 10x from 3 s of simulated time before that kill or partition; it counts
 * requestAnimationFrame callbacks in each (at most --seconds): a new snapshot every 100 ms, the
 * force layout moving in between.
 *
 *   npm run bench:sim -- --nodes 200 --seeds 1 --scenario kill50 --trace kill50-200.json
 *   npm run build && node dist/bench/sim-view.js kill50-50.json kill50-200.json [--seconds 4]
 *
 * A benchmark: it prints what it measures and never fails on a number. Needs /usr/bin/chromium.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { chromium } from 'playwright-core'
import { startSimView } from '../examples/sim-view.js'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { seconds: { type: 'string', default: '4' } } })
const seconds = Number(values.seconds)
if (positionals.length === 0 || !(seconds > 0)) {
  console.error('usage: node dist/bench/sim-view.js TRACE.json... [--seconds 4]')
  process.exit(2)
}

/** Evaluated in the page: frames per second and the longest gap between two frames. */
const countFrames = (ms: number): string => `new Promise(resolve => {
  let frames = 0
  let worst = 0
  const t0 = performance.now()
  let previous = t0
  const frame = now => {
    frames++
    worst = Math.max(worst, now - previous)
    previous = now
    if (now - t0 < ${ms}) requestAnimationFrame(frame)
    else resolve({ fps: frames * 1000 / (now - t0), worstMs: worst, simTime: window.__simReplay.time, drawn: window.__simReplay.stats.drawn })
  }
  requestAnimationFrame(frame)
})`

const profile = mkdtempSync(join(tmpdir(), 'grapevine-chromium-'))
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1200, height: 800 },
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
})
try {
  console.log('| trace | phase | nodes drawn (start-end) | links drawn (end) | fps while playing | longest frame, ms | fps paused after |')
  console.log('| --- | --- | --- | --- | --- | --- | --- |')
  for (const file of positionals) {
    const view = await startSimView({ trace: file })
    const page = await context.newPage()
    await page.goto(view.url)
    await page.waitForFunction('window.__simReplay?.stats != null')
    const marks = await page.evaluate<Array<{ t: number, label: string }>>('window.__simReplay.markers')
    const opening = await page.evaluate<number>('window.__simReplay.time')
    const phases = [{ name: 'tree forms (1x)', from: opening, speed: 1, ms: Math.min(seconds * 1000, (marks[0]?.t ?? Infinity) - opening - 200) }]
    if (marks[0] !== undefined) phases.push({ name: `${marks[0].label} (10x)`, from: marks[0].t - 3000, speed: 10, ms: seconds * 1000 })
    for (const phase of phases) {
      await page.evaluate(`(() => { window.__simReplay.seek(${phase.from}); document.getElementById('replay-speed').value = '${phase.speed}'; window.__simReplay.play() })()`)
      const drawnAtStart = await page.evaluate<number>('window.__simReplay.stats.drawn')
      const playing = await page.evaluate<{ fps: number, worstMs: number, drawn: number }>(countFrames(phase.ms))
      const links = await page.evaluate<number>('window.__clusterView.links.length')
      await page.evaluate('window.__simReplay.pause()')
      const paused = await page.evaluate<{ fps: number }>(countFrames(2000))
      console.log(`| ${file} | ${phase.name} | ${drawnAtStart}-${playing.drawn} | ${links} | ${playing.fps.toFixed(1)} | ${playing.worstMs.toFixed(0)} | ${paused.fps.toFixed(1)} |`)
    }
    await page.close()
    await view.close()
  }
} finally {
  await context.close()
  rmSync(profile, { recursive: true, force: true })
}
