// Runs one query through @lakehouse-rs/flight-sql-client (arrow-rs's Flight SQL client inside), a
// client that sends every endpoint's ticket to the node it is connected to, and prints what it
// received as one JSON line: {"rows": N, "sum": "S", "distinct": D} over the column "id".
//
//   node tests/clients/flight_sql_client_node.js HOST PORT SQL
//
// Installed by `make clients` (npm install in tests/clients). Exits 1 with the client's error on stderr.
'use strict';

const { createFlightSqlClient } = require('@lakehouse-rs/flight-sql-client');
const { tableFromIPC } = require('apache-arrow');

async function main() {
  const [host, port, sql] = process.argv.slice(2);
  if (!host || !port || !sql) {
    throw new Error('usage: flight_sql_client_node.js HOST PORT SQL');
  }
  const client = await createFlightSqlClient({ host, port: Number(port), tls: false, headers: [] });
  const table = tableFromIPC(await client.query(sql));
  const ids = table.getChild('id');
  if (ids === null) {
    throw new Error(`no column "id" in the result: ${table.schema.fields.map((f) => f.name)}`);
  }
  let sum = 0n;
  const distinct = new Set();
  for (const id of ids) {
    sum += BigInt(id);
    distinct.add(BigInt(id));
  }
  console.log(JSON.stringify({ rows: table.numRows, sum: sum.toString(), distinct: distinct.size }));
}

main().catch((error) => {
  console.error(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
