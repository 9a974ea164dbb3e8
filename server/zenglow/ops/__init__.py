"""Operating the server: Prometheus metrics and `zenglow doctor`."""
