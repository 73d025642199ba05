import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', '.tap/**', 'node_modules/**', '.diag-tmp/**'] }),
  {
    rules: {
      // `void promise` marks a promise deliberately left to run on its own (a consumer loop).
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
