// A small AT Protocol network on loopback for socialdesk's integration tests: a PLC directory
// (in memory), a Personal Data Server and a Bluesky AppView (its index in PostgreSQL), all from
// the reference implementation on npm (@atproto/dev-env). Started by tests/integration/bluesky/
// conftest.py; see pds.py there for how it is installed.
//
// Environment: ATPROTO_MODULES (the node_modules folder holding @atproto/dev-env),
// DB_POSTGRES_URL, DB_POSTGRES_SCHEMA, REDIS_HOST, TMPDIR (the PDS keeps its data there).
//
// Prints one JSON line {"pds": url, "appview": url, "plc": url} when ready. Then reads commands
// on stdin, one per line: "sync" waits until the AppView has indexed everything the PDS wrote
// and answers "synced"; end of input (or SIGTERM) stops the network.
'use strict'

const net = require('node:net')
const path = require('node:path')
const readline = require('node:readline')

// Every server here listens on loopback only, whatever port-only listen() the packages call.
const originalListen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
    args.splice(1, 0, '127.0.0.1')
  }
  return originalListen.apply(this, args)
}

const modules = process.env.ATPROTO_MODULES
const devEnv = require(path.join(modules, '@atproto/dev-env'))
const getPort = require(path.join(modules, 'get-port'))

function log(...parts) {
  process.stderr.write(parts.join(' ') + '\n')
}

async function main() {
  const schema = process.env.DB_POSTGRES_SCHEMA || 'socialdesk'
  const plc = await devEnv.TestPlc.create({})
  const pdsPort = await getPort()
  const bsky = await devEnv.TestBsky.create({
    plcUrl: plc.url,
    pdsPort,
    repoProvider: `ws://localhost:${pdsPort}`,
    dbPostgresUrl: process.env.DB_POSTGRES_URL,
    dbPostgresSchema: `appview_${schema}`,
    redisHost: process.env.REDIS_HOST || 'localhost:6379',
  })
  const pds = await devEnv.TestPds.create({
    port: pdsPort,
    didPlcUrl: plc.url,
    bskyAppViewUrl: bsky.url,
    bskyAppViewDid: bsky.ctx.cfg.serverDid,
  })
  // Handles under .test resolve through this PDS instead of DNS.
  devEnv.mockNetworkUtilities(pds, bsky)

  async function sync() {
    await pds.processAll()
    const sub = bsky.sub
    const last = await pds.ctx.sequencer.curr()
    const started = Date.now()
    while (last && Date.now() - started < 15000) {
      await sub.processAll()
      const cursor = await sub.runner.getCursor()
      if (cursor && cursor >= last) return
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    if (last) throw new Error('the AppView did not catch up with the PDS within 15 s')
  }

  let closing = false
  async function close(code) {
    if (closing) return
    closing = true
    try {
      await pds.close()
      await bsky.close()
      await plc.close()
    } catch (err) {
      log('error while stopping:', err && err.stack ? err.stack : err)
    }
    process.exit(code)
  }
  process.on('SIGTERM', () => close(0))
  process.on('SIGINT', () => close(0))

  const lines = readline.createInterface({ input: process.stdin })
  lines.on('line', async (line) => {
    const command = line.trim()
    if (command === 'sync') {
      try {
        await sync()
        process.stdout.write('synced\n')
      } catch (err) {
        process.stdout.write(`error ${String(err && err.message ? err.message : err)}\n`)
      }
    } else if (command) {
      process.stdout.write(`error unknown command ${command}\n`)
    }
  })
  lines.on('close', () => close(0))

  const loopback = (url) => url.replace('//localhost:', '//127.0.0.1:')
  process.stdout.write(
    JSON.stringify({ pds: loopback(pds.url), appview: loopback(bsky.url), plc: loopback(plc.url) }) +
      '\n',
  )
}

main().catch((err) => {
  log('could not start the network:', err && err.stack ? err.stack : err)
  process.exit(1)
})
