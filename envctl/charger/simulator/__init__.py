"""The fleet simulator behind `envctl sim`: N OCPP 1.6J chargers in a few worker processes.

settings.py       SimConfig (one picklable value for every worker), flag parsing, shards
chargepoint.py    one charger: connect, boot, status, heartbeat, sessions, reconnect policy
central.py        answers to central-initiated CALLs (RemoteStart/Stop, Reset, Get/ChangeConfiguration,
                  TriggerMessage, DataTransfer), schema-validated both ways
configuration_keys.py  the charger's OCPP configuration keys (1.6 section 9.1) it reports and accepts
txqueue.py        the ordered, offline-surviving transaction-message queue (attempts, retry interval)
ledger.py         JSONL record of every transaction message + the reader/reconcile API for benches
stats.py          per-worker counters and log histograms; folding workers into the status body
context.py        what the chargers of one worker share
worker.py         one process: a shard of chargers on uvloop, snapshots to the parent every second
fleet.py          the parent: spawn workers, status file, final report, signals, duration
live.py           the rich live view
"""
