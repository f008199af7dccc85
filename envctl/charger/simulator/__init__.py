"""The fleet simulator behind `envctl sim`: N OCPP 1.6J chargers in a few worker processes.

settings.py            the run's settings: SimConfig (one picklable value for every worker), flag
                       parsing, shards
chargepoint.py         one charger's state (slotted), composed of the behaviour mixins below
connection.py          transport: connect, serve one WebSocket, loss, reconnect policy, inbound frames
call_pump.py           outbound CALLs one at a time: boot first, then the outbox, then transactions
boot.py                BootNotification, heartbeat, StatusNotification, triggered messages
sessions.py            arrivals, charging sessions, meter samples, transaction messages, reset
clock.py               the OCPP timestamp of every payload
central.py             answers to central-initiated CALLs, routed by action name (RemoteStart/Stop,
                       Reset, Get/ChangeConfiguration, TriggerMessage, DataTransfer), schema-validated
management.py          availability, local list, reservations, charging profiles, firmware/diagnostics
configuration_keys.py  the charger's OCPP configuration keys (1.6 section 9.1) it reports and accepts
txqueue.py             the ordered, offline-surviving transaction-message queue (attempts, retry interval)
ledger.py              JSONL record of every transaction message + the reader/reconcile API for benches
stats.py               per-worker counters and log histograms; folding workers into the status body
context.py             what the chargers of one worker share
worker.py              one process: a shard of chargers on uvloop, snapshots to the parent every second
fleet.py               the parent: spawn workers, status file, final report, signals, duration
live.py                the rich live view
"""
