/**
 * The plugin's `dashboard`: one page that draws the whole cluster, fed by Server-Sent Events.
 *
 * The instance's node publishes its own summary and listens to everyone's on the cluster topic
 * (../core/cluster-publisher.ts, ../core/cluster-view.ts); the page gets a snapshot of the view
 * every `refresh` ms, and sooner after a summary arrives. The page and its scripts are files of
 * the package (./dashboard/, d3-force from node_modules), read once at registration: no CDN.
 */
import { existsSync, readFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { GossipApi } from '../core/api.js'
import { startClusterSummary, summaryDefaults } from '../core/cluster-publisher.js'
import { CLUSTER_TOPIC } from '../core/cluster-summary.js'
import { ClusterView } from '../core/cluster-view.js'
import type { ResolvedDashboardOptions } from './options.js'

export interface Dashboard {
  /** Ends the open pages' streams and stops listening to summaries. */
  close (): Promise<void>
}

export interface Asset { body: Buffer, type: string }

/** Compiled, this file is dist/src/plugin/dashboard.js; the page stays in src/plugin/dashboard/ (shipped). */
function pageDir (): string {
  const dir = [new URL('./dashboard/', import.meta.url), new URL('../../../src/plugin/dashboard/', import.meta.url)]
    .map(url => fileURLToPath(url))
    .find(candidate => existsSync(join(candidate, 'page.html')))
  if (dir === undefined) throw new Error('the dashboard page (src/plugin/dashboard/page.html) is missing from the package')
  return dir
}

/** The UMD builds of d3-force and its three dependencies, in the order a page must load them. */
function d3Files (): Array<{ name: string, path: string }> {
  const require = createRequire(import.meta.url)
  const force = require.resolve('d3-force')
  const near = createRequire(force)
  const umd = (name: string, entry: string): { name: string, path: string } => ({ name, path: join(dirname(entry), `${name}.min.js`) })
  return [
    umd('d3-dispatch', near.resolve('d3-dispatch')),
    umd('d3-quadtree', near.resolve('d3-quadtree')),
    umd('d3-timer', near.resolve('d3-timer')),
    umd('d3-force', force)
  ]
}

function escapeAttribute (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/**
 * The page and its files by route under `base`. `extra` (the simulator's replay,
 * examples/sim-view.ts) adds scripts that run before page.js and style sheets after page.css;
 * whoever passes them serves them.
 */
export function dashboardAssets (base: string, extra: { scripts?: string[], styles?: string[] } = {}): Map<string, Asset> {
  const dir = pageDir()
  const d3 = d3Files()
  const scripts = [...d3.map(f => `${base}/${f.name}.js`), ...(extra.scripts ?? []), `${base}/page.js`]
  const styles = [`${base}/page.css`, ...(extra.styles ?? [])]
  const html = readFileSync(join(dir, 'page.html'), 'utf8')
    .replace('%BASE%', escapeAttribute(base))
    .replace('%SCRIPTS%', scripts.map(src => `<script src="${escapeAttribute(src)}"></script>`).join('\n    '))
    .replace('%STYLE%', styles.map(href => `<link rel="stylesheet" href="${escapeAttribute(href)}">`).join('\n    '))
  return new Map<string, Asset>([
    [base, { body: Buffer.from(html), type: 'text/html; charset=utf-8' }],
    [`${base}/page.js`, { body: readFileSync(join(dir, 'page.js')), type: 'text/javascript; charset=utf-8' }],
    [`${base}/page.css`, { body: readFileSync(join(dir, 'page.css')), type: 'text/css; charset=utf-8' }],
    ...d3.map(f => [`${base}/${f.name}.js`, { body: readFileSync(f.path), type: 'text/javascript; charset=utf-8' }] as const)
  ])
}

export async function registerDashboard (
  fastify: FastifyInstance,
  node: GossipApi,
  options: ResolvedDashboardOptions,
  log: FastifyBaseLogger
): Promise<Dashboard> {
  const base = options.path
  const assets = dashboardAssets(base)

  const lease = await startClusterSummary(node, { ...summaryDefaults }, log)
  const view = new ClusterView(node.nodeId, { removeAfter: options.removeAfter })
  const handle = await node.stream(CLUSTER_TOPIC)
  const summaries = handle.subscribe({ bufferSize: 1024 })
  const clients = new Set<ServerResponse>()
  let closed = false
  let soon: NodeJS.Timeout | undefined
  let lastPush = 0

  const push = (): void => {
    if (soon !== undefined) clearTimeout(soon)
    soon = undefined
    lastPush = performance.now()
    if (clients.size === 0) return
    let frame: string
    try {
      frame = `data: ${JSON.stringify({ at: Date.now(), ...view.snapshot(performance.now()) })}\n\n`
    } catch (err) {
      log.error({ err }, 'dashboard: could not build the cluster snapshot')
      return
    }
    for (const client of clients) {
      // A page that does not read is not sent more: it gets the next snapshot once it has caught up.
      if (client.writableLength > 1024 * 1024) continue
      client.write(frame)
    }
  }
  const ticker = setInterval(push, options.refresh)
  ticker.unref()

  void (async () => {
    for await (const item of summaries) {
      if (item.type !== 'message') continue
      // What a peer published is decoded with limits; a bad summary is dropped, never thrown.
      if (!view.receive(item.origin, item.content, performance.now())) continue
      if (soon === undefined && clients.size > 0) soon = setTimeout(push, Math.max(50, Math.min(options.refresh, 250 - (performance.now() - lastPush))))
    }
  })().catch(err => log.error({ err }, 'dashboard: reading summaries failed'))

  const guard = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (options.authorize === undefined) return
    let allowed = false
    try {
      allowed = await options.authorize(request)
    } catch (err) {
      log.debug({ err }, 'dashboard: authorize threw, refusing')
    }
    if (allowed !== true) await reply.code(403).send({ error: 'Forbidden', message: 'the dashboard is not for this request' })
  }

  for (const [route, asset] of assets) {
    fastify.get(route, { onRequest: guard }, async (_request, reply) => await reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body))
  }
  fastify.get(`${base}/snapshot`, { onRequest: guard }, async () => ({ at: Date.now(), ...view.snapshot(performance.now()) }))
  fastify.get(`${base}/events`, { onRequest: guard }, (request, reply) => {
    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    raw.write('retry: 2000\n\n')
    clients.add(raw)
    request.raw.once('close', () => clients.delete(raw))
    raw.once('error', () => clients.delete(raw))
    push()
  })

  const endStreams = (): void => {
    for (const client of clients) client.end()
    clients.clear()
  }
  // Open streams would hold fastify.close() until the pages went away.
  fastify.addHook('preClose', (done) => {
    endStreams()
    done()
  })

  return {
    async close () {
      if (closed) return
      closed = true
      clearInterval(ticker)
      if (soon !== undefined) clearTimeout(soon)
      endStreams()
      summaries.close()
      lease.close()
      await handle.close().catch(() => {})
    }
  }
}
