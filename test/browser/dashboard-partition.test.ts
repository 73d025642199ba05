/**
 * Issue 14: the dashboard across a partition, in the network-namespace bed (test/fixtures/netns.ts).
 * Five nodes, each in its own namespace; node 1 serves the page, and Chromium runs inside node 1's
 * namespace (the only place its loopback port is reachable from). A silent 3/2 cut (iptables DROP,
 * no RST, no FIN) splits the cluster; then it heals.
 *
 * What the page at side A can know: side B's summaries stop arriving, so side B's nodes fall
 * silent (greyed) with their links as last reported, and side A's nodes soon stop naming links to
 * side B. A link never holds a heard node to a silent one, so the page draws two components: side
 * A live, side B silent. After the heal side B speaks again and links up: one component.
 * Assertions read the page's model (window.__clusterView) and its data attributes, never pixels;
 * screenshots go to .tap/dashboard/.
 *
 * Needs Debian's chromium at /usr/bin/chromium, root, `ip` and `iptables`; without them the test
 * is skipped with the reason, except under CI=true where that is a failure.
 */
import tap, { test, type Test } from 'tap'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Page } from 'playwright-core'
import { bed, bedUnavailable, ensureBuilt, waitFor, type NodeProcess } from '../fixtures/netns.js'

const CHROMIUM = '/usr/bin/chromium'
const root = fileURLToPath(new URL('../../', import.meta.url))
const N = 5
/** Summaries every 200 ms, with no byte budget to space them out. */
const SUMMARY = { interval: 200, bytesPerSecond: 1e9 }
/** A short keepalive, so that the nodes notice the silent cut within seconds. */
const KEEPALIVE = 2_000
/** The far side stays drawn, greyed, for the whole cut: it leaves only if the test hangs. */
const REMOVE_AFTER = 300_000

// The waits below are generous (a slow, loaded machine), and on a timeout the test prints what
// every node saw: the runner's default of 120 s per file would kill it before that.
tap.setTimeout(420_000)

const unavailable = !existsSync(CHROMIUM)
  ? `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)`
  : bedUnavailable() === undefined ? undefined : `multi-host bed unavailable: ${bedUnavailable()}`
const skip = unavailable !== undefined && process.env.CI !== 'true' ? unavailable : false

interface PageNode { id: string, state: string, component?: number }
/** The model and the header, read in one turn of the page (a snapshot may land between reads). */
interface Seen {
  components: number
  silentComponents: number
  nodes: PageNode[]
  links: Array<{ a: string, b: string }>
  staleReasons: Record<string, string>
  header: string
  partitioned: string
  /** id -> data-component and data-state of its drawn element */
  drawn: Record<string, { component: string | null, state: string | null }>
}
const seen = async (page: Page): Promise<Seen> => await page.evaluate<Seen>(`(() => {
  const m = window.__clusterView
  const drawn = {}
  for (const g of document.querySelectorAll('#nodes g[data-node]')) drawn[g.dataset.node] = { component: g.dataset.component ?? null, state: g.dataset.state ?? null }
  const staleReasons = {}
  for (const n of m.snapshot?.nodes ?? []) if (n.staleReason !== undefined) staleReasons[n.id] = n.staleReason
  return {
    components: m.components,
    silentComponents: m.silentComponents,
    nodes: m.nodes.map(n => ({ id: n.id, state: n.state, component: n.component })),
    links: (m.snapshot?.links ?? []).map(l => ({ a: l.a, b: l.b })),
    staleReasons,
    header: document.getElementById('component-count').textContent,
    partitioned: document.getElementById('component-count').dataset.partitioned,
    drawn
  }
})()`)

/** The page's components as sorted lists of bed indexes, with whether each is heard ('live') or silent. */
function groups (s: Seen, index: Map<string, number>): Array<{ state: string, nodes: number[] }> {
  const byComponent = new Map<number, { state: string, nodes: number[] }>()
  for (const n of s.nodes) {
    if (n.component === undefined) continue
    const g = byComponent.get(n.component) ?? { state: n.state, nodes: [] }
    if (g.state !== n.state) g.state = 'mixed'
    g.nodes.push(index.get(n.id) ?? -1)
    byComponent.set(n.component, g)
  }
  return [...byComponent.values()].map(g => ({ state: g.state, nodes: g.nodes.sort((x, y) => x - y) })).sort((x, y) => x.nodes[0]! - y.nodes[0]!)
}

function describe (s: Seen, index: Map<string, number>): string {
  const name = (id: string): string => String(index.get(id) ?? id.slice(0, 8))
  return `components ${s.components} (${s.silentComponents} silent), header "${s.header}" partitioned=${s.partitioned}; ` +
    `groups ${JSON.stringify(groups(s, index))}; ` +
    `nodes ${s.nodes.map(n => `${name(n.id)}:${n.state}${s.staleReasons[n.id] === undefined ? '' : `(${s.staleReasons[n.id]})`}`).join(' ')}; ` +
    `links ${s.links.map(l => `${name(l.a)}-${name(l.b)}`).sort().join(' ')}`
}

/**
 * What every node saw since `since` (link events, warnings; ms after it), the test's own steps
 * (`marks`, same clock) and what the page showed last.
 */
async function report (t: Test, nodes: NodeProcess[], since: number, marks: Array<[string, number]>, last: string): Promise<void> {
  const ids = new Map(nodes.map(n => [n.nodeId, n.index]))
  const name = (p: string | undefined): string => p === undefined ? '' : ` ${ids.get(p) ?? p.slice(0, 8)}`
  const lines = [`the page last showed: ${last}`, ...marks.map(([what, at]) => `test +${at - since}ms ${what}`)]
  for (const n of nodes) {
    for (const e of await n.events().catch(() => [])) {
      if (e.at >= since - 1_000) lines.push(`node ${n.index} +${e.at - since}ms ${e.type}${name(e.peer)}${e.reason === undefined ? '' : ` (${e.reason})`}`)
    }
    for (const l of await n.logs().catch(() => [])) if (l.at >= since && l.level !== 'info') lines.push(`node ${n.index} +${l.at - since}ms ${l.level}: ${l.msg} ${JSON.stringify(l.fields ?? {})}`)
  }
  t.comment(lines.join('\n'))
}

void test('the dashboard across a silent 3/2 partition: one component, then two (the far side greyed), then one again', { skip }, async t => {
  if (unavailable !== undefined) {
    t.fail(`${unavailable}; CI must install chromium, iproute2 and iptables and run as root`)
    return
  }
  ensureBuilt(t)
  const b = await bed(t, N)
  const nodes = Array.from({ length: N }, (_, k) => b.start(k + 1))
  const [host, ...others] = nodes
  const [httpPort] = await Promise.all([
    host!.dashboard({ seeds: [], keepaliveTimeout: KEEPALIVE, clusterSummary: SUMMARY, bridge: false, dashboard: { removeAfter: REMOVE_AFTER, refresh: 200 } }),
    ...others.map(async n => { await n.spawn({ seeds: [b.address(1)], keepaliveTimeout: KEEPALIVE, clusterSummary: SUMMARY }) })
  ])
  const index = new Map(nodes.map(n => [n.nodeId, n.index]))

  const scratch = mkdtempSync(join(tmpdir(), 'grapevine-chromium-'))
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  mkdirSync(join(scratch, 'profile'))
  const context = await chromium.launchPersistentContext(join(scratch, 'profile'), {
    executablePath: b.programIn(1, CHROMIUM, scratch),
    headless: true,
    viewport: { width: 1200, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  // Teardowns run last first: the browser closes before the bed goes (which would kill it).
  t.teardown(async () => await context.close().catch(() => {}))
  const page = await context.newPage()
  page.on('pageerror', err => t.fail(`page error: ${err.message}`))
  await page.goto(`http://127.0.0.1:${httpPort}/gossip/dashboard`)
  await page.locator('#status[data-state="open"]').waitFor()

  const shots = join(root, '.tap', 'dashboard')
  mkdirSync(shots, { recursive: true })
  const startedAt = Date.now()
  let last: Seen | undefined
  const shown = (): string => last === undefined ? 'nothing yet' : describe(last, index)
  const marks: Array<[string, number]> = []
  /** Polls what the page shows until `ok`; on a timeout, what every node saw and the page showed. */
  const until = async (what: string, ok: (s: Seen) => boolean, timeout: number): Promise<void> => {
    try {
      await waitFor(what, async () => ok(last = await seen(page)), timeout, 200)
    } catch (err) {
      await report(t, nodes, marks[0]?.[1] ?? startedAt, marks, shown())
      await page.screenshot({ path: join(shots, 'partition-timeout.png') }).catch(() => {})
      throw err
    }
  }
  const sameGroups = (s: Seen, want: Array<{ state: string, nodes: number[] }>): boolean =>
    JSON.stringify(groups(s, index)) === JSON.stringify(want)

  // The side to cut off: two nodes the page shows linked to each other. The page at side A knows
  // side B only as last reported, so two side-B nodes that were never linked would show as two
  // silent components, not one.
  let sideB: number[] = []
  await until('all five nodes live in one component, and a link between two nodes other than the page\'s', s => {
    if (s.components !== 1 || s.nodes.length !== N || !s.nodes.every(n => n.state === 'live' && index.has(n.id))) return false
    const pair = s.links.map(l => [index.get(l.a)!, index.get(l.b)!].sort((x, y) => x - y)).find(([x, y]) => x !== 1 && y !== 1)
    sideB = pair ?? []
    return pair !== undefined
  }, 60_000)
  const sideA = nodes.map(n => n.index).filter(i => !sideB.includes(i))
  const before = last!
  t.equal(before.components, 1, `before the cut: one component (${describe(before, index)})`)
  t.same(groups(before, index), [{ state: 'live', nodes: [1, 2, 3, 4, 5] }], 'with all five nodes, live')
  t.equal(before.header, '1', 'the header counts one component')
  t.equal(before.partitioned, 'false', 'and does not mark it partitioned')
  t.ok(Object.values(before.drawn).every(d => d.component === '0' && d.state === 'live'), 'every node drawn in component 0, live')
  await page.screenshot({ path: join(shots, 'partition-before.png') })

  const cutAt = Date.now()
  await b.cut(sideA, sideB)
  marks.push([`cut ${JSON.stringify(sideA)} | ${JSON.stringify(sideB)}`, cutAt])
  t.comment(`cut ${JSON.stringify(sideA)} | ${JSON.stringify(sideB)} (silent: iptables DROP at both ends)`)

  // Side B falls silent at once (no summary crosses): two components, side A heard, side B greyed
  // with its links as last reported.
  const want = [{ state: 'live', nodes: sideA }, { state: 'stale', nodes: sideB }].sort((x, y) => x.nodes[0]! - y.nodes[0]!)
  const split = (s: Seen): boolean => sameGroups(s, want)
  await until(`two components: side A ${JSON.stringify(sideA)} live, side B ${JSON.stringify(sideB)} silent`, split, 60_000)
  t.pass(`two components ${Date.now() - cutAt} ms after the cut: ${describe(last!, index)}`)

  // The nodes themselves notice the cut (keepalives fail) and every link across it closes, so
  // that after the heal the sides must link up again rather than find the old links still open;
  // the page keeps showing the two components meanwhile.
  const idsOf = (side: number[]): Set<string> => new Set(side.map(i => nodes[i - 1]!.nodeId))
  const across = async (): Promise<string[]> => {
    const out: string[] = []
    for (const [side, other] of [[sideA, sideB], [sideB, sideA]] as const) {
      const far = idsOf(other)
      for (const i of side) for (const p of await nodes[i - 1]!.peers()) if (far.has(p)) out.push(`${i}-${index.get(p)!}`)
    }
    return out
  }
  t.ok((await across()).length > 0, 'links across the cut just after it (or the cut would prove little)')
  let open: string[] = []
  try {
    await waitFor('every link across the cut closed, on both sides', async () => (open = await across()).length === 0, 60_000, 200)
  } catch (err) {
    await report(t, nodes, cutAt, marks, `${shown()}; links still open across the cut: ${open.join(' ')}`)
    throw err
  }
  marks.push(['every link across the cut closed', Date.now()])
  t.comment(`every link across the cut closed ${Date.now() - cutAt} ms after it (keepaliveTimeout ${KEEPALIVE} ms)`)
  await until('still two components once the cut is detected', split, 30_000)
  const during = last!
  t.pass(`two components after the detection: ${describe(during, index)}`)
  t.equal(during.components, 2, 'the model counts two components')
  t.equal(during.silentComponents, 1, 'one of them silent')
  t.equal(during.header, '1 (+1 silent)', 'the header: one component heard, one fallen silent')
  t.equal(during.partitioned, 'true', 'the component count is marked partitioned')
  const drawnComponent = (i: number): string | null => during.drawn[nodes[i - 1]!.nodeId]?.component ?? null
  const drawnState = (i: number): string | null => during.drawn[nodes[i - 1]!.nodeId]?.state ?? null
  t.ok(sideA.every(i => drawnState(i) === 'live') && sideB.every(i => drawnState(i) === 'stale'), 'side A drawn live, side B greyed')
  t.equal(new Set(sideA.map(drawnComponent)).size, 1, 'side A drawn as one component')
  t.equal(new Set(sideB.map(drawnComponent)).size, 1, 'side B drawn as one component')
  t.not(drawnComponent(sideA[0]!), drawnComponent(sideB[0]!), 'and not the same one')
  await page.screenshot({ path: join(shots, 'partition-during.png') })

  const healAt = Date.now()
  await b.heal()
  marks.push(['healed', healAt])
  await until('one component of five live nodes again', s => s.components === 1 && s.silentComponents === 0 && sameGroups(s, [{ state: 'live', nodes: [1, 2, 3, 4, 5] }]), 90_000)
  const mendMs = Date.now() - healAt
  const after = last!
  t.pass(`one component again ${mendMs} ms after the heal (the cut lasted ${healAt - cutAt} ms): ${describe(after, index)}`)
  t.equal(after.header, '1', 'the header counts one component')
  t.equal(after.partitioned, 'false', 'and no longer marks it partitioned')
  t.ok(Object.values(after.drawn).every(d => d.state === 'live') && new Set(Object.values(after.drawn).map(d => d.component)).size === 1,
    'every node drawn live, in one component')
  await page.screenshot({ path: join(shots, 'partition-after.png') })
  t.comment(`screenshots: ${['before', 'during', 'after'].map(s => join(shots, `partition-${s}.png`)).join(', ')}`)
})
