/**
 * Replays a simulation in the cluster dashboard's page: a time slider over a trace that
 *
 *   npm run bench:sim -- --nodes 200 --seeds 1 --scenario kill50 --trace kill50.json
 *
 * wrote. `node dist/examples/sim-view.js kill50.json [--port 8080]` prints the URL to open.
 * A plain HTTP server: the page, d3-force from node_modules, the replay (examples/sim-view/) and
 * the trace reader compiled from src/core/sim/trace-format.ts; nothing from a CDN.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { dashboardAssets, type Asset } from '../src/plugin/dashboard.js'
import { readTrace } from '../src/core/sim/trace-format.js'

const BASE = '/replay'

/** The first of the candidate files that exists (run from dist/examples or from examples/). */
function locate (what: string, ...candidates: string[]): string {
  const found = candidates.map(c => fileURLToPath(new URL(c, import.meta.url))).find(p => existsSync(p))
  if (found === undefined) throw new Error(`${what} not found (tried ${candidates.join(', ')}); run npm run build`)
  return found
}

export interface SimView {
  url: string
  close(): Promise<void>
}

export async function startSimView (options: { trace: string, port?: number, host?: string }): Promise<SimView> {
  const text = readFileSync(options.trace, 'utf8')
  readTrace(text)
  const dir = locate('the replay page', './sim-view/', '../../examples/sim-view/')
  const reader = locate('the compiled trace reader', '../src/core/sim/trace-format.js', '../dist/src/core/sim/trace-format.js')
  const js = 'text/javascript; charset=utf-8'
  const assets = new Map<string, Asset>([
    ...dashboardAssets(BASE, { scripts: [`${BASE}/replay-boot.js`], styles: [`${BASE}/replay.css`] }),
    [`${BASE}/replay-boot.js`, { body: readFileSync(join(dir, 'replay-boot.js')), type: js }],
    [`${BASE}/replay.js`, { body: readFileSync(join(dir, 'replay.js')), type: js }],
    [`${BASE}/replay.css`, { body: readFileSync(join(dir, 'replay.css')), type: 'text/css; charset=utf-8' }],
    // Compiled TypeScript ends with a source-map comment the page has no use for.
    [`${BASE}/trace-format.js`, { body: Buffer.from(readFileSync(reader, 'utf8').replace(/\/\/# sourceMappingURL=.*$/m, '')), type: js }],
    [`${BASE}/trace.json`, { body: Buffer.from(text), type: 'application/json; charset=utf-8' }]
  ])
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname
    if (path === '/') {
      response.writeHead(302, { location: BASE }).end()
      return
    }
    const asset = assets.get(path)
    if (asset === undefined || request.method !== 'GET') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      return
    }
    response.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' }).end(asset.body)
  })
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, resolve)
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${host}:${port}${BASE}`,
    close: async () => { await new Promise<void>(resolve => server.close(() => resolve())) }
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' } } })
  const file = positionals[0]
  if (file === undefined) {
    console.error('usage: node dist/examples/sim-view.js TRACE.json [--port 8080] [--host 127.0.0.1]\n(write one with: npm run bench:sim -- --nodes 200 --seeds 1 --scenario kill50 --trace TRACE.json)')
    process.exit(2)
  }
  const view = await startSimView({ trace: file, port: Number(values.port), host: values.host })
  console.log(`replay of ${file}: ${view.url}  (Ctrl-C stops)`)
  process.once('SIGINT', () => { void view.close().then(() => process.exit(0)) })
}
