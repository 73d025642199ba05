// The package as a user gets it: pack a clean copy of the tree (no dist/, so `prepare` must build),
// install the tarball into a scratch app outside the repository with fastify, socket.io,
// socket.io-client and ws, then broadcast between two instances through every entry point.
// Installing uses the npm cache (--prefer-offline) and takes about 10-25 s here once it is warm.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const scripts = fileURLToPath(new URL('../fixtures/package-app/', import.meta.url))
const NAME = 'grapevine-gossip'

// Children run without tap's loaders and coverage: npm, tsc and node on plain JavaScript.
const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' }
delete env.NODE_V8_COVERAGE

interface Run { code: number, stdout: string, stderr: string, seconds: number }

function run (cmd: string, args: string[], cwd: string, timeout = 180_000): Promise<Run> {
  const started = performance.now()
  return new Promise(resolve => {
    execFile(cmd, args, { cwd, env, timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr: err !== null && stderr === '' ? String(err) : stderr, seconds: (performance.now() - started) / 1000 })
    })
  })
}

/** The files of a clean clone: tracked and untracked-but-not-ignored (no dist/, no node_modules/). */
async function cleanCopy (to: string): Promise<void> {
  const listed = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], repo)
  if (listed.code === 0) {
    for (const file of listed.stdout.split('\0')) {
      // Regular files only: a checkout whose node_modules is a symlink lists it as untracked.
      if (file === '' || !existsSync(join(repo, file)) || !lstatSync(join(repo, file)).isFile()) continue
      mkdirSync(dirname(join(to, file)), { recursive: true })
      copyFileSync(join(repo, file), join(to, file))
    }
  } else {
    // Not a git checkout: everything but what .gitignore names.
    const skip = new Set(['.git', 'node_modules', 'dist', '.tap', 'tmp'])
    cpSync(repo, to, { recursive: true, filter: source => !skip.has(relative(repo, source).split('/')[0] ?? '') })
  }
  // tsc for `prepare`, without installing the dev dependencies again.
  symlinkSync(join(repo, 'node_modules'), join(to, 'node_modules'), 'dir')
}

/** Uses every entry point's main types the way an application would. */
const CONSUMER = `
import { Gossip, type GossipOptions, type TopicHandle } from '${NAME}'
import grapevine, { type GrapevineOptions } from '${NAME}/fastify'
import { createAdapter } from '${NAME}/socket.io'
import { connect, type BridgeMessage } from '${NAME}/browser'
import Fastify from 'fastify'
import { Server } from 'socket.io'

export async function main (options: GossipOptions): Promise<void> {
  const node: Gossip = await Gossip.spawn(options)
  const topic: TopicHandle = await node.stream('topic')
  await topic.publish('hello')
  const app = Fastify()
  const pluginOptions: GrapevineOptions = { gossip: node, bridge: true }
  await app.register(grapevine, pluginOptions)
  const id: string = app.gossip.nodeId
  const io = new Server({ adapter: createAdapter({ gossip: node }) })
  connect('ws://localhost/gossip').subscribe('topic', (m: BridgeMessage) => io.emit('message', id, m.origin, m.data))
}
`

const installed = (pkg: string): string => JSON.parse(readFileSync(join(repo, 'node_modules', pkg, 'package.json'), 'utf8')).version

const npm = await run('npm', ['--version'], repo, 30_000)
if (npm.code !== 0) {
  t.plan(0, `npm is not on PATH (${npm.stderr.trim().split('\n')[0]})`)
} else {
  // npm pack builds the package; on a loaded 2-core machine the whole file takes 60-90 s.
  t.setTimeout(360_000)
  const work = mkdtempSync(join(tmpdir(), 'grapevine-package-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const clone = join(work, 'clone')
  const out = join(work, 'out')
  const app = join(work, 'app')
  for (const dir of [clone, out, app]) mkdirSync(dir)

  let tarball = ''
  let files: string[] = []

  await t.test('npm pack on a clean tree builds through prepare and ships the runtime only', async t => {
    await cleanCopy(clone)
    t.notOk(existsSync(join(clone, 'dist')), 'the copy has no dist/ before the stale file below')
    // What an old build of a since-removed module leaves behind: prepare prunes it.
    mkdirSync(join(clone, 'dist', 'src', 'core'), { recursive: true })
    writeFileSync(join(clone, 'dist', 'src', 'core', 'removed-module.js'), 'export {}\n')
    const packed = await run('npm', ['pack', '--json', '--pack-destination', out], clone)
    t.comment(`npm pack (prepare build included): ${packed.seconds.toFixed(1)} s`)
    if (packed.code !== 0) return t.fail(`npm pack failed (${packed.code}):\n${packed.stderr}`)
    // Lifecycle output (tsc) may precede the JSON.
    const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string, size: number, unpackedSize: number, files: Array<{ path: string }> }>
    const pack = info[0]!
    tarball = join(out, pack.filename)
    files = pack.files.map(f => f.path)
    t.comment(`${files.length} files, ${(pack.size / 1024).toFixed(0)} KiB packed, ${(pack.unpackedSize / 1024).toFixed(0)} KiB unpacked`)

    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'))
    t.equal(pkg.name, NAME, 'package name')
    for (const file of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']) t.ok(files.includes(file), `ships ${file}`)
    for (const [entry, target] of Object.entries(pkg.exports as Record<string, string | { types: string, default: string }>)) {
      const targets = typeof target === 'string' ? [target] : [target.types, target.default]
      for (const path of targets) t.ok(files.includes(path.replace(/^\.\//, '')), `${entry}: ships ${path}`)
    }
    t.same(files.filter(f => /(^|\/)core\/sim\//.test(f)), [], 'no simulator')
    t.notOk(files.includes('dist/src/core/removed-module.js'), 'no output of a module whose source is gone')
    t.same(files.filter(f => /^(bench|examples|test|scripts|dist\/(bench|examples|test))\//.test(f)), [], 'no benchmarks, examples, tests or scripts')
  })

  await t.test('the tarball installs into a scratch app with fastify and socket.io', async t => {
    if (tarball === '') return t.fail('no tarball')
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', version: '1.0.0', private: true, type: 'module' }, null, 2))
    // The versions the repository tests against: in the cache already, and within the peer ranges.
    const peers = ['fastify', 'socket.io', 'socket.io-client', 'ws'].map(p => `${p}@${installed(p)}`)
    const result = await run('npm', ['install', tarball, ...peers, '--prefer-offline', '--no-audit', '--no-fund'], app)
    t.comment(`npm install: ${result.seconds.toFixed(1)} s`)
    t.equal(result.code, 0, `npm install ${[NAME, ...peers].join(' ')}`, { stderr: result.stderr })

    // Every source map points at a source that shipped.
    const root = join(app, 'node_modules', NAME)
    const missing: string[] = []
    let maps = 0
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) walk(path)
        else if (entry.name.endsWith('.map')) {
          maps++
          for (const source of JSON.parse(readFileSync(path, 'utf8')).sources as string[]) {
            if (!existsSync(resolve(dir, source))) missing.push(`${relative(root, path)} -> ${source}`)
          }
        }
      }
    }
    walk(join(root, 'dist'))
    t.ok(maps > 0, `${maps} source maps`)
    t.same(missing, [], 'every source map\'s sources are in the package')
  })

  const broadcast = (entry: string, script: string, check: (t: Test, result: Record<string, unknown>) => void): void => {
    void t.test(`a two-instance broadcast through ${entry}`, async t => {
      copyFileSync(join(scripts, script), join(app, script))
      const result = await run(process.execPath, [script], app, 60_000)
      t.comment(`${script}: ${result.seconds.toFixed(1)} s`)
      if (result.code !== 0) return t.fail(`${script} exited with ${result.code}`, { stderr: result.stderr, stdout: result.stdout })
      check(t, JSON.parse(result.stdout.trim().split('\n').at(-1)!))
    })
  }

  broadcast(`'${NAME}'`, 'core.mjs', (t, r) => {
    t.same(r.atB, { text: 'from a', origin: r.a }, 'a to b')
    t.same(r.atA, { text: 'from b', origin: r.b }, 'b to a')
  })
  broadcast(`'${NAME}/fastify' and '${NAME}/browser'`, 'fastify.mjs', (t, r) => {
    t.equal(r.plugin, true, 'registered as the grapevine plugin')
    t.same(r.atBob, { data: 'from alice', origin: r.a }, 'a browser client on one instance reaches one on the other')
    const dashboard = r.dashboard as { status: number, assets: Record<string, number> }
    t.equal(dashboard.status, 200, 'the dashboard page is served from the installed package')
    t.same(Object.keys(dashboard.assets).sort(), ['d3-dispatch', 'd3-force', 'd3-quadtree', 'd3-timer', 'page'].map(n => `/gossip/dashboard/${n}.js`).concat('/gossip/dashboard/page.css').sort(), 'it names d3 and its own script and style')
    t.ok(Object.values(dashboard.assets).every(status => status === 200), 'and each of them loads', dashboard.assets)
  })
  broadcast(`'${NAME}/socket.io'`, 'socketio.mjs', (t, r) => {
    t.equal(r.atClient, 'from server a', 'an emit on server a reaches a client of server b')
  })

  void t.test('the shipped types resolve for a TypeScript consumer', async t => {
    writeFileSync(join(app, 'consumer.ts'), CONSUMER)
    const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc')
    const result = await run(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--skipLibCheck', '--types', 'node', '--typeRoots', join(repo, 'node_modules', '@types'), 'consumer.ts'], app)
    t.comment(`tsc: ${result.seconds.toFixed(1)} s`)
    t.equal(result.code, 0, 'consumer.ts type-checks against the installed package', { stdout: result.stdout })
  })
}
