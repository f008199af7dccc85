"""The Kubernetes runtime: one namespace per preview environment (see runtime.py)."""

from envctl.runtimes.kubernetes.runtime import KubernetesRuntime

__all__ = ["KubernetesRuntime"]
