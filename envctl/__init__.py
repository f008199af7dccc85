"""envctl: preview environments, Terraform on PRs and graceful charger-server releases."""

__version__ = "0.1.0"
