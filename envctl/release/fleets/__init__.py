"""Runtime adapters for the release engine's Fleet protocol (envctl/release/fleet.py)."""
