/**
 * The README's code is real code. Every TypeScript or JavaScript block of README.md is, byte for
 * byte, a file of examples/readme/ named by a marker comment just above it; those files
 * type-check with strict settings against the package's public types, imported by the package's
 * own name as an application would; the ones that are programs run, print what the README says
 * they do, and exit by themselves.
 *
 * Blocks in other languages are exempt, and every block must say its language: `sh` (commands),
 * `json`, `yaml` and `text` (terminal output, the repository layout) are not code one compiles.
 *
 * `grapevine-gossip` resolves to this repository through its package.json `exports` (a package
 * may import itself by name), that is to the built dist/src/, the files that ship. `npm test`
 * builds first; run alone, this test builds dist itself when it is missing or older than src/.
 */
import t from 'tap'
import { execFile, execFileSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const examplesDir = join(root, 'examples/readme')
const readme = readFileSync(join(root, 'README.md'), 'utf8')

const CODE_LANGUAGES = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'cjs', 'tsx', 'jsx'])
const EXEMPT_LANGUAGES = new Set(['sh', 'json', 'yaml', 'text'])
const MARKER = /^<!-- example: (\S+) -->$/

/** What each program must print; a file of examples/readme that is not a program is listed with null. */
const PROGRAMS: Record<string, RegExp[] | null> = {
  'node-basic.ts': [/^b received "hello" from a, 1 hop\(s\)$/m],
  'fastify-server.ts': [/^listening on http:\/\/127\.0\.0\.1:\d+, gossip node [0-9a-f]{8} at 127\.0\.0\.1:\d+$/m, /^200 \{"ok":true,"connections":0\}$/m],
  'socketio-server.ts': [/^the client of server b got "from server a"$/m, /^servers in the cluster: 2$/m, /^answers to a: \[ 'pong to a' \]$/m],
  'socketio-emitter.ts': [/^the client got "paid"$/m, /^the server heard: invoice job$/m, /^servers in the cluster: 1$/m],
  'browser-client.ts': [/^alice got hello from [0-9a-f]{8}$/m, /^alice got Uint8Array\(3\) \[ 1, 2, 3 \] on room:42:bytes$/m, /^alice got Uint8Array\(2\) \[ 104, 105 \] on room:42:bytes$/m],
  // Alone, the node's one topic (the adapter's) has no neighbour: the health route says 503.
  'operations.ts': [/^health 503 \{"status":"unavailable",.*"topicsWithoutNeighbour":1\}$/m, /^grapevine_up 1$/m, /^closed$/m],
  'typescript.ts': [/^ERR_GOSSIP_MESSAGE_TOO_LARGE: 1048576 > 262144 bytes$/m]
}

interface Block { language: string, code: string, line: number, marker: string | undefined }

/** The fenced blocks of a Markdown text, each with the marker on its last non-blank line above. */
function fencedBlocks (markdown: string): Block[] {
  const lines = markdown.split('\n')
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!)
    if (open === null) continue
    let end = i + 1
    while (end < lines.length && lines[end] !== '```') end++
    let above = i - 1
    while (above >= 0 && lines[above]!.trim() === '') above--
    blocks.push({ language: open[1]!, code: lines.slice(i + 1, end).join('\n') + '\n', line: i + 1, marker: MARKER.exec(lines[above] ?? '')?.[1] })
    i = end
  }
  return blocks
}

const blocks = fencedBlocks(readme)
const codeBlocks = blocks.filter(b => CODE_LANGUAGES.has(b.language))
const exampleFiles = readdirSync(examplesDir).filter(f => f.endsWith('.ts')).sort()

t.test('the README has the sections users look for, in this order', async t => {
  const sections = [...readme.matchAll(/^## (.+)$/gm)].map(m => m[1]!)
  t.same(sections, ['Install', 'Quick start', 'Usage', 'Options', 'TypeScript', 'Deploying', 'Operations', 'Benchmarks', 'Protocol', 'License'])
  const usage = readme.slice(readme.indexOf('\n## Usage'), readme.indexOf('\n## Options'))
  t.same([...usage.matchAll(/^### (.+)$/gm)].map(m => m[1]!.replace(/`/g, '')),
    ['The gossip node: grapevine-gossip', 'Fastify: grapevine-gossip/fastify', 'Socket.IO: grapevine-gossip/socket.io', 'Browser client: grapevine-gossip/browser'])
  for (const link of ['docs/benchmarks.md', 'docs/protocol.md', 'examples/deploy/', 'LICENSE']) {
    t.ok(readme.includes(`](${link})`), `links ${link}`)
    t.ok(existsSync(join(root, link)), `${link} exists`)
  }
})

t.test('every block of the README says its language: code, or a language exempt from the checks', async t => {
  for (const block of blocks) {
    const known = CODE_LANGUAGES.has(block.language) || EXEMPT_LANGUAGES.has(block.language)
    t.ok(known, `README.md:${block.line}: \`\`\`${block.language === '' ? ' (untagged)' : block.language} is a code language or an exempt one`)
  }
  t.ok(codeBlocks.length >= exampleFiles.length, `${codeBlocks.length} code blocks`)
})

t.test('every code block of the README is a file of examples/readme, shown verbatim', async t => {
  for (const block of codeBlocks) {
    if (block.marker === undefined) {
      t.fail(`README.md:${block.line}: a \`\`\`${block.language} block without <!-- example: examples/readme/... --> above it`)
      continue
    }
    t.match(block.marker, /^examples\/readme\/[\w-]+\.ts$/, `README.md:${block.line}: the marker names a file of examples/readme`)
    const path = join(root, block.marker)
    if (!existsSync(path)) {
      t.fail(`README.md:${block.line}: ${block.marker} does not exist`)
      continue
    }
    t.equal(block.code, readFileSync(path, 'utf8'), `README.md:${block.line} is ${block.marker}`)
  }
  const shown = new Set(codeBlocks.map(b => b.marker))
  for (const file of exampleFiles) t.ok(shown.has(`examples/readme/${file}`), `examples/readme/${file} is shown in the README`)
  t.same(Object.keys(PROGRAMS).sort(), exampleFiles, 'every example is listed below as a program (with its output) or as a module')
})

/** dist/ is what `grapevine-gossip` resolves to: build it when a source is newer than its output. */
function ensureBuilt (): void {
  const stale = (dir: string): boolean => readdirSync(join(root, dir), { withFileTypes: true }).some(entry => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return stale(path)
    if (!entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) return false
    const built = join(root, 'dist', path.replace(/\.ts$/, '.js'))
    return !existsSync(built) || statSync(built).mtimeMs < statSync(join(root, path)).mtimeMs
  })
  if (!stale('src')) return
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
}

// Children run without tap's loader and coverage: tsc, and node on the JavaScript tsc wrote.
const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', CLUSTER_SECRET: randomBytes(16).toString('hex') }
delete env.NODE_V8_COVERAGE

const children = new Set<ChildProcess>()
t.teardown(() => { for (const child of children) child.kill() })

interface Run { code: number | null, stdout: string, stderr: string, seconds: number }

function run (args: string[]): Promise<Run> {
  const started = performance.now()
  return new Promise(resolve => {
    const child = execFile(process.execPath, args, { cwd: root, env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      children.delete(child)
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr, seconds: (performance.now() - started) / 1000 })
    })
    children.add(child)
  })
}

// Inside the repository, so that the compiled examples resolve the package by its name as well.
mkdirSync(join(root, 'tmp'), { recursive: true })
const out = mkdtempSync(join(root, 'tmp', 'readme-examples-'))
t.teardown(() => rmSync(out, { recursive: true, force: true }))

let compiled = false

t.test('the examples type-check with tsc --strict, nodenext, no skipLibCheck, against the public types', async t => {
  ensureBuilt()
  const tsc = await run([join(root, 'node_modules/typescript/bin/tsc'),
    '--ignoreConfig', '--strict', '--skipLibCheck', 'false',
    '--target', 'es2022', '--lib', 'es2023', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node',
    '--rootDir', examplesDir, '--outDir', out, ...exampleFiles.map(f => join(examplesDir, f))])
  t.comment(`tsc: ${tsc.seconds.toFixed(1)} s`)
  t.equal(tsc.code, 0, 'no type errors', { stdout: tsc.stdout, stderr: tsc.stderr })
  compiled = tsc.code === 0
})

t.test('the examples type-check for an app that resolves modules as a bundler does, no skipLibCheck', async t => {
  ensureBuilt()
  // Vite, esbuild and Next apps use this resolution; the package's declarations must hold there too.
  const tsc = await run([join(root, 'node_modules/typescript/bin/tsc'),
    '--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', 'false', '--esModuleInterop',
    '--target', 'es2022', '--lib', 'es2023', '--module', 'esnext', '--moduleResolution', 'bundler', '--types', 'node',
    ...exampleFiles.map(f => join(examplesDir, f))])
  t.equal(tsc.code, 0, 'no type errors', { stdout: tsc.stdout, stderr: tsc.stderr })
})

t.test('the examples that are programs print what the README says and exit by themselves', async t => {
  if (!compiled) return t.fail('the examples did not compile')
  // One at a time: each starts servers and gossip nodes (on 127.0.0.1, free ports only).
  for (const [file, expected] of Object.entries(PROGRAMS)) {
    if (expected === null) continue
    const script = join(out, file.replace(/\.ts$/, '.js'))
    const result = await run([script])
    t.comment(`${file}: ${result.seconds.toFixed(1)} s`)
    t.equal(result.code, 0, `${file} exits with 0`, { stderr: result.stderr, stdout: result.stdout })
    t.equal(result.stderr, '', `${file} writes nothing to stderr`)
    for (const line of expected) t.match(result.stdout, line, `${file} prints ${line.source}`)
  }
})
