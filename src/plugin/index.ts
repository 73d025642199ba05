// The Fastify plugin lands with its issue.
export {}
