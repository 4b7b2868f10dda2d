#!/usr/bin/env python3
"""Python HIS client example for rxguard.

Checks a prescription, applies the first structured suggestion
(Finding.fixes) and checks again, then records the physician's response to
the findings. Stubs are generated from proto/ (see README.md):

    python3 -m grpc_tools.protoc -I ../../proto --python_out=build \
        --grpc_python_out=build ../../proto/rxguard/v1/guard.proto
    PYTHONPATH=build RXGUARD_ADDR=127.0.0.1:7600 python3 client.py [prescription.json]
"""
import os
import sys

import grpc
from google.protobuf import json_format

from rxguard.v1 import guard_pb2 as pb
from rxguard.v1 import guard_pb2_grpc


def print_decision(label, resp):
    print(f"{label}: {pb.Verdict.Name(resp.verdict)} decision={resp.decision_id}")
    for f in resp.findings:
        print(f"finding {f.finding_id}: {f.rule_type} {pb.Action.Name(f.action)} lines={','.join(f.line_ids)}")
        print(f"  message: {f.message}")
        print(f"  suggestion: {f.suggestion}")
        for x in f.fixes:
            print(f"  fix: {pb.FixKind.Name(x.kind)} line={x.line_id} quantity={x.quantity:g} "
                  f"days={x.days} item={x.item_code} label={x.label}")


def apply_fix(req, fix):
    """Change req as the fix says; each fix alone makes its finding pass."""
    for i, line in enumerate(req.orders):
        if line.line_id != fix.line_id:
            continue
        if fix.kind == pb.FIX_KIND_REDUCE_QUANTITY:
            line.quantity = fix.quantity
        elif fix.kind == pb.FIX_KIND_REDUCE_DAYS:
            line.days = fix.days
        elif fix.kind == pb.FIX_KIND_MARK_SELF_PAY:
            line.self_pay = True  # only after the patient's informed consent
        elif fix.kind == pb.FIX_KIND_ATTEST_RESTRICTION:
            line.restriction_attested = True
        elif fix.kind == pb.FIX_KIND_REMOVE_LINE:
            del req.orders[i]
        elif fix.kind == pb.FIX_KIND_CHANGE_ITEM:
            line.item_code, line.item_name = fix.item_code, fix.item_name
        else:
            raise ValueError(f"fix kind {fix.kind} is newer than this client: update the client")
        return
    raise ValueError(f"fix names line {fix.line_id!r}, which the request does not have")


def main():
    addr = os.environ.get("RXGUARD_ADDR", "127.0.0.1:7600")
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "prescription.json")
    with open(path, encoding="utf-8") as f:
        # The prescription is a CheckOrdersRequest in protojson, as grpcurl sends it.
        req = json_format.Parse(f.read(), pb.CheckOrdersRequest())

    # The sidecar runs on the same host: plaintext on loopback. Keep one
    # channel for the life of the HIS process.
    with grpc.insecure_channel(addr) as channel:
        guard = guard_pb2_grpc.GuardServiceStub(channel)
        # A check answers in microseconds; the timeout bounds how long the
        # physician waits when the sidecar is down.
        resp = guard.CheckOrders(req, timeout=5)
        print_decision("verdict", resp)

        # (a) Apply the first structured suggestion and check again.
        fixed = next(((f, f.fixes[0]) for f in resp.findings if f.fixes), None)
        if fixed:
            changed = pb.CheckOrdersRequest()
            changed.CopyFrom(req)
            apply_fix(changed, fixed[1])
            print(f"apply: {pb.FixKind.Name(fixed[1].kind)} on line {fixed[1].line_id}")
            print_decision("re-check verdict", guard.CheckOrders(changed, timeout=5))
        else:
            print("no fix offered")

        # (b) Record the physician's answer to the first decision's findings:
        # a BLOCK (not overridable) or a fixed finding was modified; anything
        # else the physician continues with a reason.
        responses = []
        for f in resp.findings:
            if f.overridable and not (fixed and fixed[0].finding_id == f.finding_id):
                responses.append(pb.FindingResponse(
                    finding_id=f.finding_id, response=pb.RESPONSE_CONTINUE,
                    reason_code="CLINICAL_NEED", reason_text="病情需要，已向患者说明"))
            else:
                responses.append(pb.FindingResponse(finding_id=f.finding_id, response=pb.RESPONSE_MODIFY))
        if responses:
            rec = guard.RecordResponse(
                pb.RecordResponseRequest(decision_id=resp.decision_id, responses=responses), timeout=5)
            print(f"recorded: {rec.recorded}")


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        sys.exit(f"rxguard call failed ({e.code().name}): {e.details()}")
