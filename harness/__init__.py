"""rollproof: prove that Kubernetes rolling updates drop no request."""

__version__ = "0.1.0"
