"""Prometheus metrics (and, later, OpenTelemetry traces) of the gateway."""
