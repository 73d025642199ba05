/**
 * Starts the networked node when the app did not pass one. Kept apart from the plugin so the
 * plugin module only depends on the `GossipApi` contract.
 */
import type { GossipApi, GossipOptions } from '../core/api.js'

export async function spawnNode (options: GossipOptions): Promise<GossipApi> {
  // TEMPORARY until src/core/gossip.ts lands: resolved at run time so the plugin compiles without it.
  const modulePath = '../core/gossip.js'
  const { Gossip } = await import(modulePath) as { Gossip: { spawn (options: GossipOptions): Promise<GossipApi> } }
  return await Gossip.spawn(options)
}
