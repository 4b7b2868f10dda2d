// Node.js HIS client example for rxguard: checks a prescription, applies the
// first structured suggestion (Finding.fixes) and checks again, then records
// the physician's response to the findings.
//
// Usage: npm ci && RXGUARD_ADDR=127.0.0.1:7600 node client.js [prescription.json]
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { promisify } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const addr = process.env.RXGUARD_ADDR || '127.0.0.1:7600';
const protoDir = process.env.RXGUARD_PROTO_DIR || path.join(__dirname, '..', '..', 'proto');
const file = process.argv[2] || path.join(__dirname, '..', 'prescription.json');

// camelCase fields and enum names as strings: the same shape as the
// protojson prescription file, so it is sent as read.
const def = protoLoader.loadSync('rxguard/v1/guard.proto', {
  includeDirs: [protoDir], enums: String, longs: String, defaults: true,
});
const { GuardService } = grpc.loadPackageDefinition(def).rxguard.v1;

function printDecision(label, resp) {
  console.log(`${label}: ${resp.verdict} decision=${resp.decisionId}`);
  for (const f of resp.findings) {
    console.log(`finding ${f.findingId}: ${f.ruleType} ${f.action} lines=${f.lineIds.join(',')}`);
    console.log(`  message: ${f.message}`);
    console.log(`  suggestion: ${f.suggestion}`);
    for (const x of f.fixes) {
      console.log(`  fix: ${x.kind} line=${x.lineId} quantity=${x.quantity} days=${x.days} item=${x.itemCode} label=${x.label}`);
    }
  }
}

// applyFix changes req as the fix says; each fix alone makes its finding pass.
function applyFix(req, fix) {
  const i = req.orders.findIndex((l) => l.lineId === fix.lineId);
  if (i < 0) throw new Error(`fix names line "${fix.lineId}", which the request does not have`);
  const line = req.orders[i];
  switch (fix.kind) {
    case 'FIX_KIND_REDUCE_QUANTITY': line.quantity = fix.quantity; break;
    case 'FIX_KIND_REDUCE_DAYS': line.days = fix.days; break;
    case 'FIX_KIND_MARK_SELF_PAY': line.selfPay = true; break; // only after the patient's informed consent
    case 'FIX_KIND_ATTEST_RESTRICTION': line.restrictionAttested = true; break;
    case 'FIX_KIND_REMOVE_LINE': req.orders.splice(i, 1); break;
    case 'FIX_KIND_CHANGE_ITEM': line.itemCode = fix.itemCode; line.itemName = fix.itemName; break;
    default: throw new Error(`fix kind ${fix.kind} is newer than this client: update the client`);
  }
}

async function main() {
  const req = JSON.parse(fs.readFileSync(file, 'utf8'));
  // The sidecar runs on the same host: plaintext on loopback. Keep one
  // client for the life of the HIS process.
  const client = new GuardService(addr, grpc.credentials.createInsecure());
  // A check answers in microseconds; the deadline bounds how long the
  // physician waits when the sidecar is down.
  const opts = () => ({ deadline: Date.now() + 5000 });
  const checkOrders = promisify(client.checkOrders.bind(client));
  const recordResponse = promisify(client.recordResponse.bind(client));
  try {
    const resp = await checkOrders(req, opts());
    printDecision('verdict', resp);

    // (a) Apply the first structured suggestion and check again.
    const fixed = resp.findings.find((f) => f.fixes.length > 0);
    if (fixed) {
      const fix = fixed.fixes[0];
      const changed = structuredClone(req);
      applyFix(changed, fix);
      console.log(`apply: ${fix.kind} on line ${fix.lineId}`);
      printDecision('re-check verdict', await checkOrders(changed, opts()));
    } else {
      console.log('no fix offered');
    }

    // (b) Record the physician's answer to the first decision's findings:
    // a BLOCK (not overridable) or a fixed finding was modified; anything
    // else the physician continues with a reason.
    const responses = resp.findings.map((f) => (f.overridable && f !== fixed
      ? { findingId: f.findingId, response: 'RESPONSE_CONTINUE', reasonCode: 'CLINICAL_NEED', reasonText: '病情需要，已向患者说明' }
      : { findingId: f.findingId, response: 'RESPONSE_MODIFY' }));
    if (responses.length > 0) {
      const rec = await recordResponse({ decisionId: resp.decisionId, responses }, opts());
      console.log(`recorded: ${rec.recorded}`);
    }
  } finally {
    client.close();
  }
}

main().catch((err) => {
  console.error(`rxguard client failed: ${err.message}`);
  process.exit(1);
});
