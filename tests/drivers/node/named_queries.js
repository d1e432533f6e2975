// node-postgres (npm pg) named prepared queries through wedpool in transaction mode: many clients,
// each preparing the same and its own named queries, over a pool with fewer servers. Every result
// is checked; prints one JSON line {queries, errors, wrong} and exits non-zero on any failure.
// Usage: node named_queries.js PORT [CLIENTS] [ROUNDS]   (PGUSER/PGPASSWORD/PGDATABASE from env)
'use strict';
const { Client } = require('pg');

const port = Number(process.argv[2]);
const clients = Number(process.argv[3] || 30);
const rounds = Number(process.argv[4] || 20);
let queries = 0;
let wrong = 0;
const errors = [];

function check(cond, what) {
  if (!cond) {
    wrong++;
    if (errors.length < 10) errors.push('wrong result: ' + what);
  }
}

async function worker(k) {
  const c = new Client({ host: '127.0.0.1', port, connectionTimeoutMillis: 10000 });
  await c.connect();
  try {
    for (let i = 0; i < rounds; i++) {
      // the same name and text in every client: one statement on each server, shared
      let r = await c.query({ name: 'add', text: 'SELECT $1::int + $2::int AS s', values: [k, i] });
      queries++;
      check(r.rows.length === 1 && r.rows[0].s === k + i, `add ${k}+${i} = ${JSON.stringify(r.rows)}`);
      // a name every client uses for a different text: each must get its own
      r = await c.query({ name: 'mine', text: `SELECT ${k}::int AS k, $1::text AS t`, values: ['r' + i] });
      queries++;
      check(r.rows[0].k === k && r.rows[0].t === 'r' + i, `mine ${k} ${JSON.stringify(r.rows)}`);
      // inside a transaction, several named queries on the same server
      await c.query('BEGIN');
      r = await c.query({ name: 'ins', text: 'INSERT INTO node_named (k, i) VALUES ($1, $2) RETURNING k', values: [k, i] });
      queries++;
      check(r.rows[0].k === k, `ins ${k}`);
      r = await c.query({ name: 'cnt', text: 'SELECT count(*)::int AS n FROM node_named WHERE k = $1', values: [k] });
      queries++;
      check(r.rows[0].n === i + 1, `cnt ${k} = ${r.rows[0].n}, expected ${i + 1}`);
      await c.query('COMMIT');
    }
  } finally {
    await c.end();
  }
}

(async () => {
  const results = await Promise.allSettled(Array.from({ length: clients }, (_, k) => worker(k)));
  for (const r of results) {
    if (r.status === 'rejected' && errors.length < 10) errors.push(String(r.reason && r.reason.message || r.reason));
  }
  const failed = results.filter((r) => r.status === 'rejected').length;
  console.log(JSON.stringify({ queries, errors: failed, wrong, messages: errors }));
  process.exit(failed === 0 && wrong === 0 ? 0 : 1);
})();
