// Part of `prepare`: removes compiled files under dist/src whose TypeScript source is gone. tsc
// never deletes outputs, so a package packed from a working tree where a module was moved or
// removed would otherwise ship the old module (and a source map pointing at a missing source).
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = join(root, 'dist', 'src')
const removed = []

function prune (dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      prune(path)
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true })
      continue
    }
    const output = /^(.*)\.(js|d\.ts|js\.map)$/.exec(entry.name)
    if (output === null) continue
    if (!existsSync(join(root, 'src', relative(out, dir), `${output[1]}.ts`))) {
      rmSync(path, { force: true })
      removed.push(relative(root, path))
    }
  }
}

if (existsSync(out)) prune(out)
if (removed.length > 0) console.error(`prune-dist: removed ${removed.length} stale files: ${removed.join(', ')}`)
