/**
 * The demo that `npm start` runs, driven in a real browser: two tabs on two different instances
 * chat with each other. Needs Debian's chromium at /usr/bin/chromium; without it the test is
 * skipped with the reason, except under CI=true where a missing browser is a failure.
 */
import { test } from 'tap'
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page, type WebSocketRoute } from 'playwright-core'

const CHROMIUM = '/usr/bin/chromium'
const root = fileURLToPath(new URL('../../', import.meta.url))
const demoScript = join(root, 'dist/examples/demo.js')
const sources = ['examples/demo.ts', 'examples/demo-instance.ts', 'src/browser/index.ts', 'src/plugin/index.ts', 'src/plugin/bridge.ts', 'src/plugin/connection.ts']

/** `npm test` builds first; run alone, this test builds dist itself when it is missing or stale. */
function ensureBuilt (): void {
  const built = existsSync(demoScript) ? statSync(demoScript).mtimeMs : 0
  if (sources.every(file => statSync(join(root, file)).mtimeMs <= built)) return
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
}

/** Starts the demo on free ports and resolves with the three URLs it prints. */
async function startDemo (): Promise<{ child: ChildProcess, urls: string[], output: () => string }> {
  const child = spawn(process.execPath, [demoScript, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const urls = await new Promise<string[]>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const found = output.match(/http:\/\/127\.0\.0\.1:\d+/g) ?? []
      if (found.length === 3 && output.includes('Ctrl-C')) resolve(found)
    })
    child.once('exit', code => reject(new Error(`demo exited with ${code}: ${output}`)))
  })
  return { child, urls, output: () => output }
}

/** Evaluated in the page (this file has no DOM types): page width against viewport, right edges. */
const measure = `({
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
  send: document.getElementById('send').getBoundingClientRect().right,
  online: document.querySelector('aside').getBoundingClientRect().right
})`

const missing = !existsSync(CHROMIUM)
// Visible in tap's output as the skip reason; under CI a missing browser fails instead.
const skip = missing && process.env.CI !== 'true'
  ? `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run the browser test`
  : false

test('the demo page: a message typed in a tab on one instance appears in a tab on another', { skip }, async t => {
  if (missing) {
    t.fail(`${CHROMIUM} is missing; CI must install chromium (apt-get install -y chromium)`)
    return
  }
  ensureBuilt()
  const demo = await startDemo()
  t.teardown(() => { if (demo.child.exitCode === null) demo.child.kill('SIGKILL') })

  const profile = mkdtempSync(join(tmpdir(), 'grapevine-chromium-'))
  t.teardown(() => rmSync(profile, { recursive: true, force: true }))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => context.close())
  const browser: Browser | null = context.browser()
  t.comment(`chromium ${browser?.version() ?? ''}`)

  // Screenshots for a human to look at; kept (not committed) and overwritten by the next run.
  const shots = join(tmpdir(), 'grapevine-demo-screenshots')
  mkdirSync(shots, { recursive: true })
  t.comment(`screenshots in ${shots}`)
  const failedResponses: string[] = []

  const open = async (url: string, name: string, before?: (page: Page) => Promise<void>): Promise<Page> => {
    const page = await context.newPage()
    page.on('pageerror', err => t.fail(`page error on ${url}: ${err.message}`))
    page.on('response', response => { if (response.status() >= 400) failedResponses.push(`${response.status()} ${response.url()}`) })
    await before?.(page)
    await page.goto(url)
    await page.locator('#status[data-state="open"]', { hasText: /instance \d/ }).waitFor()
    await page.fill('#name', name)
    await page.locator('#name').dispatchEvent('change')
    return page
  }
  const [, second, third] = demo.urls
  const ann = await open(second!, 'ann')
  const ben = await open(third!, 'ben')
  t.match(await ann.textContent('#status'), /instance 2/)
  t.match(await ben.textContent('#status'), /instance 3/)
  t.ok(await ann.locator('#empty').isVisible(), 'an empty room shows a hint')

  // Presence crosses instances: each tab lists the other.
  await ann.locator('#online li', { hasText: 'ben' }).waitFor()
  await ben.locator('#online li', { hasText: 'ann' }).waitFor()
  t.pass('each tab sees the other one online')

  await ann.locator('#text').pressSequentially('hello from instance 2')
  await ben.locator('#typing', { hasText: 'ann is typing' }).waitFor()
  t.pass('the typing indicator crosses instances')
  await ann.locator('#text').press('Enter')
  const arrived = ben.locator('#messages li', { hasText: 'hello from instance 2' })
  await arrived.waitFor()
  t.match(await arrived.textContent(), /ann.*hello from instance 2.*via instance 2/)

  await ben.fill('#text', 'hi ann, from instance 3')
  await ben.locator('#send').click()
  await ann.locator('#messages li', { hasText: 'hi ann, from instance 3' }).waitFor()
  t.equal(await ann.locator('#messages li').count(), 2, 'ann sees her message once and ben\'s reply')
  t.equal(await ann.locator('#messages li.mine[data-state="sent"]').count(), 1, 'ann\'s own message is marked sent')
  t.notOk(await ann.locator('#empty').isVisible(), 'the hint goes once there are messages')

  // A long word wraps instead of widening the page, on a phone and on a desktop.
  const longWord = 'Grapevine'.repeat(50)
  await ann.fill('#text', longWord)
  await ann.locator('#send').click()
  await ann.locator('#messages li[data-state="sent"]', { hasText: longWord }).waitFor()
  await ben.locator('#messages li', { hasText: longWord }).waitFor()
  for (const width of [360, 390, 1280]) {
    for (const [who, page] of [['ann', ann], ['ben', ben]] as const) {
      await page.setViewportSize({ width, height: width < 600 ? 844 : 800 })
      const fit = await page.evaluate<{ scrollWidth: number, innerWidth: number, send: number, online: number }>(measure)
      t.ok(fit.scrollWidth <= fit.innerWidth, `${who} at ${width} px: no horizontal overflow (${fit.scrollWidth} <= ${fit.innerWidth})`)
      t.ok(fit.send <= fit.innerWidth && fit.online <= fit.innerWidth, `${who} at ${width} px: Send and Online are on screen`)
      await page.screenshot({ path: join(shots, `${who}-${width}.png`), fullPage: true })
    }
  }

  // A third tab, on instance 1, whose WebSocket the test controls: it can hold what the server
  // says (so "pending" lasts until released) and cut the link (so the server is unreachable).
  const link = { hold: false, down: false, held: [] as Array<() => void>, routes: new Set<WebSocketRoute>() }
  const cat = await open(demo.urls[0]!, 'cat', async page => {
    await page.routeWebSocket(/\/gossip$/, ws => {
      if (link.down) { void ws.close(); return }
      const server = ws.connectToServer()
      server.onMessage(message => {
        if (link.hold) link.held.push(() => ws.send(message))
        else ws.send(message)
      })
      link.routes.add(ws)
      ws.onClose(() => { link.routes.delete(ws); void server.close() })
    })
  })
  await cat.setViewportSize({ width: 390, height: 844 })
  link.hold = true
  await cat.fill('#text', 'waiting for the bridge')
  await cat.locator('#send').click()
  const waiting = cat.locator('#messages li', { hasText: 'waiting for the bridge' })
  await cat.locator('#messages li[data-state="pending"]', { hasText: 'waiting for the bridge' }).waitFor()
  t.match(await waiting.textContent(), /sending/, 'a message the bridge has not accepted yet shows as pending')
  await cat.screenshot({ path: join(shots, 'cat-390-pending.png'), fullPage: true })
  link.hold = false
  for (const release of link.held.splice(0)) release()
  await cat.locator('#messages li[data-state="sent"]', { hasText: 'waiting for the bridge' }).waitFor()
  t.pass('pending turns to sent once the bridge accepts it')
  await ben.locator('#messages li', { hasText: 'waiting for the bridge' }).waitFor()

  // The server becomes unreachable: the link is cut and reconnections are refused.
  link.down = true
  for (const route of [...link.routes]) await route.close()
  await cat.locator('#status[data-state="connecting"]').waitFor()
  await cat.fill('#text', 'typed while unreachable')
  await cat.locator('#send').click()
  const failed = cat.locator('#messages li[data-state="failed"]', { hasText: 'typed while unreachable' })
  await failed.waitFor()
  t.match(await failed.textContent(), /not sent/, 'a message typed while unreachable shows as failed')
  const retry = failed.locator('button.retry')
  t.ok(await retry.isVisible(), 'with a Retry button')
  const catFit = await cat.evaluate<{ scrollWidth: number, innerWidth: number }>(measure)
  t.ok(catFit.scrollWidth <= catFit.innerWidth, 'a failed message with its Retry button fits 390 px')
  await cat.screenshot({ path: join(shots, 'cat-390-failed.png'), fullPage: true })

  link.down = false
  await cat.locator('#status[data-state="open"]').waitFor()
  await retry.click()
  await cat.locator('#messages li[data-state="sent"]', { hasText: 'typed while unreachable' }).waitFor()
  t.equal(await cat.locator('#messages li button.retry').count(), 0, 'after Retry the message is sent and the button gone')
  await ben.locator('#messages li', { hasText: 'typed while unreachable' }).waitFor()
  t.equal(await ben.locator('#messages li', { hasText: 'typed while unreachable' }).count(), 1, 'the retried message arrives once')

  // The favicon: linked from the page, and /favicon.ico answers rather than 404.
  t.equal(await ann.locator('link[rel="icon"]').count(), 1, 'the page links an icon')
  const icon = await context.request.get(`${second!}/favicon.ico`)
  t.equal(icon.status(), 200, '/favicon.ico is not a 404')
  t.match(icon.headers()['content-type'], /image\/svg\+xml/)
  t.same(failedResponses, [], 'no page request failed with 4xx/5xx')

  await context.close()
  const exited = new Promise<number | null>(resolve => demo.child.once('exit', code => resolve(code)))
  demo.child.kill('SIGTERM')
  t.equal(await exited, 0, 'the demo shuts down cleanly on SIGTERM')
  t.match(demo.output(), /stopped/)
})
